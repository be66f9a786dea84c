"""The archive: every event the exchange routes, kept in a stream (``<exchange>.archive``) for
as long as its retention allows, so any destination can be given its events again after it
lost them (``router.replay``).

It is fed by the exchange like every other consumer, whichever way an event came in, and it
is read by time: an event's archive time is when the router published it (the message's
``timestamp``, whole seconds), or its ``date_time`` when a producer published it without one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from router.amqp import codec
from router.amqp.streams import StreamStalled, read_range
from router.amqp.topology import StreamBinding
from schemas import Envelope

ALL_EVENTS: Final = "#"
# Stream chunks are found by broker time in whole seconds, and a chunk holds messages from
# before its time: a read starts this much earlier, and what precedes ``since`` is skipped.
SEEK_MARGIN: Final = timedelta(seconds=10)


def archive_name(exchange: str) -> str:
    return f"{exchange}.archive"


def archive_binding(
    exchange: str, max_age: str, max_bytes: int, segment_bytes: int
) -> StreamBinding:
    return StreamBinding(
        archive_name(exchange), frozenset({ALL_EVENTS}), max_age, max_bytes, segment_bytes
    )


@dataclass(frozen=True, slots=True)
class Archived:
    offset: int
    at: datetime  # the archive time, UTC
    envelope: Envelope
    message: AbstractIncomingMessage


def archive_time(message: AbstractIncomingMessage, envelope: Envelope | None) -> datetime | None:
    stamp = message.timestamp
    if isinstance(stamp, datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    if envelope is not None:
        return datetime.fromisoformat(envelope.date_time)
    return None


async def read_archive(
    connection: AbstractConnection,
    stream: str,
    start: datetime | int,
    until: int,
    on_event: Callable[[Archived], Awaitable[None]],
) -> None:
    """Hand every event archived from ``start`` (a time, or an offset) through offset
    ``until`` to ``on_event``, oldest first. From a time, the read starts a little earlier
    (``SEEK_MARGIN``): what precedes it is for the caller to pass over. Bodies that are not
    envelopes are passed over here: the adapters dead-lettered them when they came."""

    async def heard(offset: int, message: AbstractIncomingMessage) -> None:
        try:
            envelope = codec.decode(message)
        except ValueError:
            return
        at = archive_time(message, envelope)
        if at is not None:
            await on_event(Archived(offset, at, envelope, message))

    seek = start - SEEK_MARGIN if isinstance(start, datetime) else start
    if not await read_range(connection, stream, seek, until, heard):
        # Offset ``until`` exists (a marker at least): finding nothing after a time is a stall.
        raise StreamStalled(f"{stream} gave nothing from {seek}")
