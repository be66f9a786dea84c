"""Dead-letter queues: look at them, send their events again, or empty them.

Replay publishes each message back to its work queue with the attempt count reset and the
same body, so the event keeps its id; it is acked in the DLQ only after the confirm.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from router.amqp.broker import connect_any
from router.amqp.codec import original_id
from router.amqp.headers import FAILURE_HEADERS, DeadLetterRecord, text
from router.amqp.topology import AdapterQueues


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str | None
    instance: str | None
    event: str | None
    reason: str | None
    attempts: int | None
    dead_at: str | None
    destination: str | None
    source_queue: str | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    try:
        body = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        body = None
    body = body if isinstance(body, dict) else {}
    record = DeadLetterRecord.from_headers(message.headers or {})
    return DeadLetter(
        id=text(body.get("id")) or original_id(message),
        instance=text(body.get("instance")),
        event=text(body.get("event")),
        reason=record.reason,
        attempts=record.attempts,
        dead_at=record.dead_at,
        destination=record.destination,
        source_queue=record.source_queue,
    )


@contextlib.asynccontextmanager
async def open_channel(url: str) -> AsyncIterator[AbstractChannel]:
    connection = await connect_any(url, "router-dlq")
    try:
        yield await connection.channel(publisher_confirms=True)
    finally:
        await connection.close()


async def count(channel: AbstractChannel, dlq: str) -> int:
    queue = await channel.declare_queue(dlq, passive=True)
    return queue.declaration_result.message_count or 0


@dataclass(frozen=True, slots=True)
class Depth:
    messages: int
    consumers: int


async def depths(url: str, queues: Collection[str]) -> dict[str, Depth | None]:
    """What each queue holds and how many consumers read it; None for one not declared."""
    connection = await connect_any(url, "router-dlq")
    try:
        found: dict[str, Depth | None] = {}
        for name in queues:
            # A channel each: the broker closes the one that looked for a missing queue.
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
                declared = queue.declaration_result
                found[name] = Depth(declared.message_count or 0, declared.consumer_count or 0)
            except aiormq.exceptions.ChannelNotFoundEntity:
                found[name] = None
            finally:
                if not channel.is_closed:
                    await channel.close()
        return found
    finally:
        await connection.close()


async def counts(url: str, queues: Collection[str]) -> dict[str, int | None]:
    """How many letters each queue holds; None for one not declared (its role never ran)."""
    return {
        name: None if depth is None else depth.messages
        for name, depth in (await depths(url, queues)).items()
    }


async def list_messages(url: str, dlq: str, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the queue (they are returned when the channel
    closes)."""
    async with open_channel(url) as channel:
        queue = await channel.declare_queue(dlq, passive=True)
        found = []
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            found.append(describe(message))
        return found


async def replay(
    url: str,
    dlq: str,
    limit: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    only: Collection[str] | None = None,
) -> int:
    """Send dead letters back to their work queue; returns how many were replayed. Only the
    messages present at the start are taken, so an event failing again is not looped over.
    ``only`` picks letters by event id: the others are looked at and left where they are.
    ``progress`` hears (replayed, to replay) at the start and after each one. Stopped at any
    point, nothing is lost: a letter leaves the queue only once its copy is confirmed (one
    stopped between the two is in both, under its event id)."""
    work = AdapterQueues.of_dlq(dlq).work
    replayed = 0
    chosen = None if only is None else frozenset(only)
    async with open_channel(url) as channel:
        queue = await channel.declare_queue(dlq, passive=True)
        await channel.declare_queue(work, passive=True)
        present = await count(channel, dlq)
        todo = present if chosen is None else min(present, len(chosen))
        if limit is not None:
            todo = min(todo, limit)
        if progress is not None:
            progress(0, todo)
        # Letters not chosen stay unacked until the channel closes, which puts them back: a
        # letter handed back at once would be the next one got, over and over.
        for _ in range(present):
            if replayed >= todo:
                break
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            if chosen is not None and describe(message).id not in chosen:
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if k not in FAILURE_HEADERS}
            copy = aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=original_id(message),
                timestamp=message.timestamp,
                type=message.type,
                app_id=message.app_id,
            )
            result = await channel.default_exchange.publish(copy, work, mandatory=True)
            if isinstance(result, aiormq.abc.DeliveredMessage):
                await message.nack(requeue=True)
                raise RuntimeError(f"work queue {work!r} did not take the message")
            await message.ack()
            replayed += 1
            if progress is not None:
                progress(replayed, todo)
    return replayed


async def purge(url: str, dlq: str) -> int:
    AdapterQueues.of_dlq(dlq)
    async with open_channel(url) as channel:
        queue = await channel.declare_queue(dlq, passive=True)
        result = await queue.purge()
        return int(result.message_count or 0)
