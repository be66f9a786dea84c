"""Reading a RabbitMQ stream over AMQP 0-9-1: a range of it from a start (an offset, a time, or
``"first"``) through a known offset, and where the stream ends right now.

Every reader acks what it reads: on a stream an ack only grants the next credit. Markers are
messages a reader adds to learn where the stream ends; every reader skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

STREAM_OFFSET: Final = "x-stream-offset"
HEADER_MARKER: Final = "x-router-marker"
PREFETCH: Final = 500
# A read that gets nothing for this long: with nothing read yet, a search by time that landed
# past the end of the stream; after something was read, RabbitMQ stalled (the read fails).
IDLE_SECONDS: Final = 5.0

Offset = int | datetime | str
# Hears each message that is not a marker, with its offset, in stream order.
OnMessage = Callable[[int, AbstractIncomingMessage], Awaitable[None]]


class StreamStalled(Exception):
    """The stream stopped giving messages before the read reached its end."""


def offset_of(message: AbstractIncomingMessage) -> int | None:
    offset = (message.headers or {}).get(STREAM_OFFSET)
    return offset if isinstance(offset, int) else None


def is_marker(message: AbstractIncomingMessage) -> bool:
    return bool((message.headers or {}).get(HEADER_MARKER))


def marker() -> aio_pika.Message:
    """A message that only says where the stream stood when it was added; unique, so the one
    who added it can recognise it."""
    return aio_pika.Message(
        b"", headers={HEADER_MARKER: uuid.uuid4().hex}, timestamp=datetime.now(UTC)
    )


class Reading:
    """A consumer on a stream, its messages waiting in an inbox."""

    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.stalled = False  # set by a reader that gave up on it: the channel is left alone

    async def next(self, idle: float) -> AbstractIncomingMessage | None:
        """The next message, or None after ``idle`` seconds without one."""
        try:
            async with asyncio.timeout(idle):
                return await self.inbox.get()
        except TimeoutError:
            return None


@contextlib.asynccontextmanager
async def reading(
    connection: AbstractConnection,
    stream: str,
    start: Offset,
    *,
    prefetch: int = PREFETCH,
    confirms: bool = False,
) -> AsyncIterator[Reading]:
    """Read ``stream`` from ``start`` on a channel of its own, closed afterwards."""
    channel = await connection.channel(publisher_confirms=confirms)
    found = Reading(channel)
    try:
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(stream, ensure=False)
        await queue.consume(found.inbox.put, arguments={STREAM_OFFSET: start})
        yield found
    finally:
        # After a stall the close would wait for an answer that may never come; the caller
        # starts the connection over instead, which closes this channel with it.
        if not found.stalled and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()


async def read_range(
    connection: AbstractConnection,
    stream: str,
    start: Offset,
    until: int,
    on_message: OnMessage,
    *,
    idle: float = IDLE_SECONDS,
) -> bool:
    """Read from ``start`` through offset ``until`` on a channel of its own, handing each
    message to ``on_message`` (which may wait: its pace is the reading pace). False when the
    search by time found nothing at all (it started past the end); raises ``StreamStalled``
    when the stream went quiet part-way."""
    read_any = False
    async with reading(connection, stream, start) as messages:
        while True:
            message = await messages.next(idle)
            if message is None:
                if read_any or not isinstance(start, datetime):
                    messages.stalled = True
                    raise StreamStalled(f"no message from {stream} for {idle:g}s")
                return False
            read_any = True
            offset = offset_of(message)
            await message.ack()
            if offset is None:
                continue
            if offset > until:
                return True
            if not is_marker(message):
                await on_message(offset, message)
            if offset >= until:
                return True


async def end_offset(
    connection: AbstractConnection, stream: str, *, idle: float = IDLE_SECONDS
) -> int:
    """The offset the stream ends at now: a marker is added and read back, so everything
    added before this call is at or before it. The read is attached first: attached after,
    it would start past the marker while events keep coming."""
    async with reading(connection, stream, "next", confirms=True) as messages:
        mark = marker()
        await messages.channel.default_exchange.publish(mark, routing_key=stream)
        token = (mark.headers or {})[HEADER_MARKER]
        while True:
            message = await messages.next(idle)
            if message is None:
                raise StreamStalled(f"{stream} did not show its end within {idle:g}s")
            await message.ack()
            offset = offset_of(message)
            if offset is not None and (message.headers or {}).get(HEADER_MARKER) == token:
                return offset


async def first_message(
    connection: AbstractConnection, stream: str, *, idle: float = IDLE_SECONDS
) -> AbstractIncomingMessage | None:
    """The oldest message the stream still keeps, markers included; None when it is empty."""
    async with reading(connection, stream, "first", prefetch=1) as messages:
        return await messages.next(idle)
