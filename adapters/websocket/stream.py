"""Reading the gateway's stream: live, from where this process left off, and again from the
past for a client that resumes.

Stream offsets order everything: the live reader records the last offset it handed to the hub,
and a resuming client is served from the past up to that offset, then live from the next one,
so nothing is missed or sent twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from adapters.websocket.hub import Hub
from router.amqp import codec
from router.amqp.broker import Broker
from router.amqp.streams import (
    STREAM_OFFSET,
    Offset,
    StreamStalled,
    is_marker,
    marker,
    read_range,
)
from router.logging import get_logger
from router.media import CLAIM_MARK, without_claims
from schemas.ids import event_time_ms

log = get_logger("adapters.websocket")

LIVE_PREFETCH: Final = 1000
# Stream chunks are found by broker time in whole seconds; an id made on a host whose clock is
# ahead of the broker's by up to this much is still found.
SEEK_MARGIN_SECONDS: Final = 10.0

# A replay that stopped part-way: the stream went quiet.
ReplayStalled = StreamStalled


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
    if is_marker(message):
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
            await channel.default_exchange.publish(marker(), routing_key=self.stream)
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
    """Hand each event from ``start`` through offset ``until`` to ``on_event`` (see
    ``router.amqp.streams.read_range``)."""

    async def heard(_: int, message: AbstractIncomingMessage) -> None:
        decoded = decode(message)
        if decoded is not None and decoded[1] is not None:
            await on_event(decoded[1])

    return await read_range(connection, stream, start, until, heard)
