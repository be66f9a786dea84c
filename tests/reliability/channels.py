"""What reached the SQS and Pusher destinations, read as the webhook sink reads its requests: one
delivery per envelope, with its id, its sequence number and when it was first seen."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from tests.reliability.sink import Delivery, next_arrival, parse_delivery
from tests.support.moto import MotoServer
from tests.support.pusher_standin import PusherStandIn

PUSHER_APP = ("2002", "reliability-key", "reliability-secret")


class Collected:
    """Deliveries gathered by a poller, with a wake-up for whoever waits on the next one."""

    def __init__(self) -> None:
        self._deliveries: list[Delivery] = []
        self._arrived = asyncio.Event()

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self._deliveries)

    def delivered_ids(self) -> set[str]:
        return {d.id for d in self._deliveries}

    def add(self, body: bytes) -> None:
        self._deliveries.append(parse_delivery(body, time.monotonic()))
        self._arrived.set()

    async def wait_delivery(self, timeout: float) -> bool:
        return await next_arrival(self._arrived, timeout)


class SqsQueue(Collected):
    """Receives (and deletes) every message of one SQS queue on a moto server."""

    def __init__(self, moto: MotoServer, queue: str) -> None:
        super().__init__()
        self.client: Any = moto.client()
        self.queue = queue

    async def poll(self) -> None:
        url: str | None = None
        while True:
            if url is None:
                try:
                    url = await asyncio.to_thread(self._url)
                except Exception:  # not created yet: the router creates it on first use
                    await asyncio.sleep(0.2)
                    continue
            messages = await asyncio.to_thread(self._receive, url)
            for message in messages:
                self.add(message["Body"].encode())
            if messages:
                await asyncio.to_thread(self._delete, url, messages)
            else:
                await asyncio.sleep(0.05)

    def _url(self) -> str:
        return str(self.client.get_queue_url(QueueName=self.queue)["QueueUrl"])

    def _receive(self, url: str) -> list[dict[str, Any]]:
        answer = self.client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        return list(answer.get("Messages", []))

    def _delete(self, url: str, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        self.client.delete_message_batch(QueueUrl=url, Entries=entries)


class PusherChannel(Collected):
    """Reads the events a Pusher-protocol stand-in was triggered with."""

    def __init__(self, standin: PusherStandIn) -> None:
        super().__init__()
        self.standin = standin

    async def poll(self) -> None:
        while True:
            triggered = await self.standin.next(timeout=3600)
            self.add(triggered.data.encode())


@contextlib.asynccontextmanager
async def polling(collector: SqsQueue | PusherChannel) -> AsyncIterator[None]:
    task = asyncio.create_task(collector.poll())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def sqs_settings(moto: MotoServer) -> dict[str, str]:
    return {
        "SQS_ENABLED": "true",
        "SQS_GLOBAL_ENABLED": "true",
        "SQS_GLOBAL_MESSAGES_UPSERT": "true",
        "SQS_ENDPOINT_URL": moto.url,
        "SQS_REGION": "us-east-1",
        "SQS_ACCESS_KEY_ID": "test",
        "SQS_SECRET_ACCESS_KEY": "test",
    }


def pusher_settings(standin: PusherStandIn) -> dict[str, str]:
    app_id, key, secret = PUSHER_APP
    return {
        "PUSHER_ENABLED": "true",
        "PUSHER_GLOBAL_ENABLED": "true",
        "PUSHER_GLOBAL_APP_ID": app_id,
        "PUSHER_GLOBAL_KEY": key,
        "PUSHER_GLOBAL_SECRET": secret,
        "PUSHER_GLOBAL_HOST": "127.0.0.1",
        "PUSHER_GLOBAL_PORT": str(standin.port),
        "PUSHER_EVENTS_MESSAGES_UPSERT": "true",
    }
