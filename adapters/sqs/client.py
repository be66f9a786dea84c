"""The SQS side: one boto3 client, calls in a thread pool sized to its connection pool, queue
URLs created on first use and cached."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from router.config.settings import SqsSettings

POOL = 16
# Errors no retry will fix: wrong credentials or missing permissions.
FATAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSecurity",
        "AuthFailure",
        "ExpiredToken",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "KMS.AccessDeniedException",
    }
)
EXISTS_CODES = frozenset({"QueueAlreadyExists", "QueueNameExists"})
MISSING_QUEUE_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class SqsClient:
    def __init__(self, settings: SqsSettings) -> None:
        self.settings = settings
        self.fifo = settings.fifo_queues
        self._client: Any = None
        self._pool = ThreadPoolExecutor(max_workers=POOL, thread_name_prefix="sqs")
        self._urls: dict[str, str] = {}
        self._resolving: dict[str, asyncio.Future[str]] = {}
        self.calls = 0  # every API call, for the "calls per event" measure

    def _boto(self) -> Any:
        """Made on first use, not at construction: a credential mistake must not stop the
        processes that only declare this role's queues."""
        if self._client is None:
            settings = self.settings
            config = botocore.config.Config(
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=settings.request_timeout_seconds,
                read_timeout=settings.request_timeout_seconds,
                max_pool_connections=POOL,
            )
            self._client = boto3.session.Session().client(
                "sqs",
                region_name=settings.region or "us-east-1",
                aws_access_key_id=settings.access_key_id or None,
                aws_secret_access_key=settings.secret_access_key.get_secret_value() or None,
                endpoint_url=settings.endpoint_url or None,
                config=config,
            )
        return self._client

    async def _call(self, method: str, **kwargs: Any) -> Any:
        self.calls += 1
        client = self._boto()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: getattr(client, method)(**kwargs))

    async def check(self) -> None:
        """One cheap call, so wrong credentials are reported at start-up."""
        await self._call("list_queues", MaxResults=1)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    async def url(self, name: str, *, fresh: bool = False) -> str:
        """The queue's URL, creating the queue on first use; concurrent callers for one queue
        share a single look-up."""
        if not fresh and name in self._urls:
            return self._urls[name]
        pending = self._resolving.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._resolving[name] = future
        try:
            url = await self._create(name)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; waiters get it too
            raise
        finally:
            self._resolving.pop(name, None)
        future.set_result(url)
        self._urls[name] = url
        return url

    async def _create(self, name: str) -> str:
        # Only FifoQueue: every message carries a deduplication id, and a queue made by hand
        # with other optional attributes must still be usable.
        attributes = {"FifoQueue": "true"} if self.fifo else {}
        try:
            answer = await self._call("create_queue", QueueName=name, Attributes=attributes)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in EXISTS_CODES:
                raise
            answer = await self._call("get_queue_url", QueueName=name)
        return str(answer["QueueUrl"])

    def forget(self, name: str) -> None:
        self._urls.pop(name, None)

    async def send_batch(self, name: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """SendMessageBatch; a queue deleted behind our back is re-created once."""
        url = await self.url(name)
        try:
            answer: dict[str, Any] = await self._call(
                "send_message_batch", QueueUrl=url, Entries=list(entries)
            )
            return answer
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in MISSING_QUEUE_CODES:
                raise
        self.forget(name)
        url = await self.url(name, fresh=True)
        answer = await self._call("send_message_batch", QueueUrl=url, Entries=list(entries))
        return answer
