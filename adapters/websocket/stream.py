"""Reading the gateway's stream: live, from where this process left off, and again from the
past for a client that resumes.

Stream offsets order everything: the live reader records the last offset it handed to the hub,
and a resuming client is served from the past up to that offset, then live from the next one,
so nothing is missed or sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from adapters.websocket.hub import Hub
from router.amqp import codec
from router.amqp.broker import Broker
from router.logging import get_logger
from router.media import CLAIM_MARK, without_claims
from schemas.ids import event_time_ms

log = get_logger("adapters.websocket")

STREAM_OFFSET: Final = "x-stream-offset"
# A message a gateway adds to the stream to learn where the stream ends; every reader skips it.
HEADER_MARKER: Final = "x-router-marker"
LIVE_PREFETCH: Final = 1000
REPLAY_PREFETCH: Final = 500
# A replay that gets nothing for this long: with nothing read yet, a search by time that landed
# past the end of the stream; after something was read, RabbitMQ stalled (the replay fails).
REPLAY_IDLE_SECONDS: Final = 5.0
# Stream chunks are found by broker time in whole seconds; an id made on a host whose clock is
# ahead of the broker's by up to this much is still found.
SEEK_MARGIN_SECONDS: Final = 10.0

Offset = int | datetime | str


class ReplayStalled(Exception):
    """The stream stopped giving messages before the replay reached its end."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: str
    instance: str
    event: str
    frame: bytes  # the envelope as sent to clients


def decode(message: AbstractIncomingMessage) -> tuple[int, StreamEvent | None] | None:
    """The offset and the event of a stream message; the event is None for markers and for
    bodies that are not envelopes (the other adapters dead-letter those)."""
    headers = message.headers or {}
    offset = headers.get(STREAM_OFFSET)
    if not isinstance(offset, int):
        return None
    if headers.get(HEADER_MARKER):
        return offset, None
    try:
        envelope = codec.decode(message)
    except ValueError:
        return offset, None
    ours = codec.as_sent(message, envelope)
    claimed = CLAIM_MARK in message.body
    frame = message.body if ours and not claimed else without_claims(envelope).to_json()
    return offset, StreamEvent(envelope.id, envelope.instance, envelope.event, frame)


def seek_for(event_id: str, recent: Mapping[str, int]) -> Offset:
    """Where to start reading to find ``event_id``: its exact offset if this process saw it,
    shortly before its creation time if the id carries one, else the oldest event kept."""
    if event_id in recent:
        return recent[event_id]
    ms = event_time_ms(event_id)
    if ms is None:
        return "first"
    return datetime.fromtimestamp(max(0.0, ms / 1000 - SEEK_MARGIN_SECONDS), UTC)


class LiveReader:
    """Feeds the hub from the stream, on every connection from just after the last offset read,
    so events that arrive while RabbitMQ is unreachable reach live clients afterwards."""

    def __init__(self, broker: Broker, stream: str, hub: Hub) -> None:
        self.broker = broker
        self.stream = stream
        self.hub = hub
        self._channel: AbstractChannel | None = None
        broker.add_setup(self.setup)

    async def setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=False)
        channel.close_callbacks.add(
            lambda *_: self.broker.connection_lost("websocket stream channel closed", connection)
        )
        await channel.set_qos(prefetch_count=LIVE_PREFETCH)
        queue = await channel.get_queue(self.stream, ensure=False)
        known = self.hub.last_offset
        start: Offset = "next" if known is None else known + 1
        self._channel = channel  # held strongly for the life of the connection
        await queue.consume(self._on_message, arguments={STREAM_OFFSET: start})
        if known is None:
            # "next" gives nothing until the next event; the marker's offset tells this process
            # where the stream stands, so a client resuming now need not wait for traffic.
            marker = aio_pika.Message(b"", headers={HEADER_MARKER: 1})
            await channel.default_exchange.publish(marker, routing_key=self.stream)
        log.info("websocket.reading", stream=self.stream, start=str(start))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # Each message runs in a task of its own, started in order; nothing is awaited before
        # the hub has it, so clients get events in stream order.
        decoded = decode(message)
        if decoded is not None:
            offset, event = decoded
            last = self.hub.last_offset
            if last is None or offset > last:
                if event is None:
                    self.hub.position(offset)
                else:
                    self.hub.publish(offset, event.id, event.instance, event.event, event.frame)
        with contextlib.suppress(Exception):
            await message.ack()  # on a stream, an ack only grants the next credit


async def replay(
    connection: AbstractConnection,
    stream: str,
    start: Offset,
    until: int,
    on_event: Callable[[StreamEvent], Awaitable[None]],
) -> bool:
    """Read from ``start`` through offset ``until`` on a channel of its own, handing each event
    to ``on_event`` (which may wait: the client's pace is the reading pace). False when the
    search by time found nothing at all (it started past the end); raises ``ReplayStalled``
    when the stream went quiet part-way."""
    channel = await connection.channel(publisher_confirms=False)
    read_any = stalled = False
    try:
        await channel.set_qos(prefetch_count=REPLAY_PREFETCH)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        queue = await channel.get_queue(stream, ensure=False)
        await queue.consume(inbox.put, arguments={STREAM_OFFSET: start})
        while True:
            try:
                async with asyncio.timeout(REPLAY_IDLE_SECONDS):
                    message = await inbox.get()
            except TimeoutError:
                if read_any or not isinstance(start, datetime):
                    stalled = True
                    raise ReplayStalled(
                        f"no message from {stream} for {REPLAY_IDLE_SECONDS}s"
                    ) from None
                return False
            read_any = True
            decoded = decode(message)
            await message.ack()
            if decoded is None:
                continue
            offset, event = decoded
            if offset > until:
                return True
            if event is not None:
                await on_event(event)
            if offset >= until:
                return True
    finally:
        # After a stall the close would wait for an answer that may never come; the caller
        # starts the connection over instead, which closes this channel with it.
        if not stalled and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()
