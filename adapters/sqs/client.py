"""The SQS side: one boto3 client, calls in a thread pool sized to its connection pool, queue
URLs created on first use and cached."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from router.settings import SqsSettings

T = TypeVar("T")
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
    }
)
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
        self.fifo = settings.fifo
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=settings.request_timeout_seconds,
            read_timeout=settings.request_timeout_seconds,
            max_pool_connections=POOL,
        )
        self._client: Any = boto3.session.Session().client(
            "sqs",
            region_name=settings.region or "us-east-1",
            aws_access_key_id=settings.access_key_id or None,
            aws_secret_access_key=settings.secret_access_key.get_secret_value() or None,
            endpoint_url=settings.endpoint_url or None,
            config=config,
        )
        self._pool = ThreadPoolExecutor(max_workers=POOL, thread_name_prefix="sqs")
        self._urls: dict[str, str] = {}
        self.calls = 0  # every API call, for the "calls per event" measure

    async def _call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        self.calls += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(**kwargs))

    async def check(self) -> None:
        """One cheap call, so wrong credentials are reported at start-up."""
        await self._call(self._client.list_queues, MaxResults=1)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def url(self, name: str, *, fresh: bool = False) -> str:
        """The queue's URL, creating the queue on first use."""
        if not fresh and name in self._urls:
            return self._urls[name]
        attributes = (
            {"FifoQueue": "true", "ContentBasedDeduplication": "false"} if self.fifo else {}
        )
        # CreateQueue is idempotent for equal attributes and answers the URL of an existing queue.
        answer = await self._call(self._client.create_queue, QueueName=name, Attributes=attributes)
        self._urls[name] = str(answer["QueueUrl"])
        return self._urls[name]

    def forget(self, name: str) -> None:
        self._urls.pop(name, None)

    async def send_batch(self, name: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """SendMessageBatch; a queue deleted behind our back is re-created once."""
        url = await self.url(name)
        try:
            return await self._call(
                self._client.send_message_batch, QueueUrl=url, Entries=list(entries)
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in MISSING_QUEUE_CODES:
                raise
        self.forget(name)
        url = await self.url(name, fresh=True)
        return await self._call(
            self._client.send_message_batch, QueueUrl=url, Entries=list(entries)
        )
