"""A replay: the archive surveyed for what the plan wants, then every matching event put again
in the work queue of each destination that wants it, under its original id, confirmed.

The survey happens before the caller is answered (so the answer says how many events match);
the sending runs on its own and reports progress. A lost connection or a stalled stream is
taken up again from the first event not yet confirmed: an event may then reach a destination
twice, under its id, as every redelivery does; none is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from router.amqp.archive import Archived, archive_time, read_archive
from router.amqp.headers import FAILURE_HEADERS, REPLAY, TARGET
from router.amqp.streams import STREAM_OFFSET, StreamStalled, end_offset, first_message
from router.logging import get_logger
from router.replay.plan import PlanRefused, ReplayPlan, stamp
from router.replay.routes import Copy, Destination, Labelled, copies_for

log = get_logger("router.replay")

# How often a replay takes up its sending again after losing the connection or the stream.
MAX_RESUMES: Final = 5
CONNECT_WAIT_SECONDS: Final = 60.0

# What a replay's sending is taken up again after: the connection or the stream failed it.
RESUMABLE: Final = (
    aiormq.exceptions.AMQPError,
    ConnectionError,
    RuntimeError,
    TimeoutError,
    StreamStalled,
)
State = Literal["running", "done", "failed", "stopped"]
Connect = Callable[[], Awaitable[AbstractConnection]]


@dataclass(frozen=True, slots=True)
class Survey:
    matched: int
    first: int | None  # offsets of the first and last matching events
    last: int | None
    available_since: datetime | None  # the oldest archive time kept


@dataclass(slots=True)
class Progress:
    """What a replay has done so far; ``sent`` counts events whose every copy is confirmed."""

    id: str
    plan: ReplayPlan
    matched: int
    available_since: datetime | None
    state: State = "running"
    sent: int = 0
    copies: int = 0
    unwanted: int = 0  # matched, but no destination wants it now
    error: str | None = None
    resumes: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    def finish(self, state: State, error: str | None = None) -> None:
        self.state, self.error, self.finished_at = state, error, datetime.now(UTC)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replay": self.id,
            "state": self.state,
            "matched": self.matched,
            "sent": self.sent,
            "copies": self.copies,
            "unwanted": self.unwanted,
            "error": self.error,
            "resumes": self.resumes,
            "available_since": None
            if self.available_since is None
            else stamp(self.available_since),
            "started_at": stamp(self.started_at),
            "finished_at": None if self.finished_at is None else stamp(self.finished_at),
            "plan": self.plan.as_dict(),
        }


async def survey(connection: AbstractConnection, stream: str, plan: ReplayPlan) -> Survey:
    """Count what ``plan`` matches in the archive as it is now; refuses a range the archive no
    longer holds, saying what it still holds."""
    end = await end_offset(connection, stream)
    oldest = await first_message(connection, stream)
    available = None if oldest is None else archive_time(oldest, None)
    if available is not None and plan.until < available.replace(microsecond=0):
        raise PlanRefused(
            f"the archive keeps events from {stamp(available)} on; nothing is left from "
            f"{stamp(plan.since)} to {stamp(plan.until)}"
        )
    matched = 0
    first: int | None = None
    last: int | None = None

    async def count(item: Archived) -> None:
        nonlocal matched, first, last
        if plan.wants(item.envelope.instance, item.envelope.event, item.envelope.id, item.at):
            matched += 1
            first = item.offset if first is None else first
            last = item.offset

    await read_archive(connection, stream, plan.since, end, count)
    return Survey(matched, first, last, available)


def copy_of(item: Archived, copy: Copy, replay: str) -> aio_pika.Message:
    """The archived message as it was published, with a clean record: no stream offset, no
    past failure, the one target when it is for one, and the replay it belongs to."""
    message: AbstractIncomingMessage = item.message
    headers = {
        k: v
        for k, v in (message.headers or {}).items()
        if k not in FAILURE_HEADERS and k not in (STREAM_OFFSET, TARGET)
    }
    headers[REPLAY] = replay
    if copy.target is not None:
        headers[TARGET] = copy.target
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id or item.envelope.id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


class Replay:
    """One replay's sending, from the survey's first match through its last."""

    def __init__(
        self,
        progress: Progress,
        found: Survey,
        stream: str,
        connect: Connect,
        destinations: tuple[Destination, ...],
        webhooks: Labelled,
        heard: Callable[[Progress], object] | None = None,
    ) -> None:
        self.heard = heard  # told after each event sent
        self.progress = progress
        self.found = found
        self.stream = stream
        self.connect = connect
        self.destinations = destinations
        self.webhooks = webhooks
        self._next = found.first  # the offset to take up from

    async def run(self) -> Progress:
        progress = self.progress
        log.info(
            "replay.started",
            replay=progress.id,
            matched=progress.matched,
            **progress.plan.as_dict(),
        )
        try:
            while self._next is not None and self.found.last is not None:
                try:
                    await self._send_from(self._next, self.found.last)
                    break
                except RESUMABLE as exc:
                    if progress.resumes >= MAX_RESUMES:
                        raise
                    progress.resumes += 1
                    log.warning(
                        "replay.resuming", replay=progress.id, error=str(exc), sent=progress.sent
                    )
        except asyncio.CancelledError:
            progress.finish("stopped", "the router stopped; replay again to send the rest")
            raise
        except Exception as exc:
            progress.finish("failed", f"{type(exc).__name__}: {exc}")
        else:
            progress.finish("done")
        log.info("replay.finished", **progress.as_dict())
        return progress

    async def _send_from(self, start: int, last: int) -> None:
        connection = await self.connect()
        channel = await connection.channel(publisher_confirms=True)
        try:
            await read_archive(
                connection, self.stream, start, last, lambda item: self._send(channel, item)
            )
        finally:
            if not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()

    async def _send(self, channel: AbstractChannel, item: Archived) -> None:
        plan, progress = self.progress.plan, self.progress
        envelope = item.envelope
        if not plan.wants(envelope.instance, envelope.event, envelope.id, item.at):
            return
        copies = copies_for(
            envelope.routing_key,
            envelope.instance,
            envelope.event,
            plan.to,
            plan.label,
            self.destinations,
            self.webhooks,
        )
        results = await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    copy_of(item, copy, progress.id), copy.queue, mandatory=True
                )
                for copy in copies
            )
        )
        for copy, result in zip(copies, results, strict=True):
            if isinstance(result, aiormq.abc.DeliveredMessage):
                raise LookupError(f"queue {copy.queue} is missing; nothing more was sent")
        self._next = item.offset + 1
        progress.sent += 1
        progress.copies += len(copies)
        if not copies:
            progress.unwanted += 1
        if self.heard is not None:
            self.heard(progress)
