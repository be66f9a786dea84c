"""What the delivering processes are doing now, for people looking: every few seconds each one
says on ``<exchange>.status`` (a fanout exchange of its own) how many deliveries each of its
roles has in flight and how each webhook receiver stands with it (requests in flight, events
waiting for a slot, its breaker). Every ingest process keeps the last word of each and forgets
a process silent for three intervals.

A word lost costs nothing, as the next one replaces it: they travel transient, unconfirmed and
expiring, and the private queue that takes them is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aio_pika
import pydantic
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from router.amqp.broker import Broker
from router.amqp.topology import status_exchange_name
from router.logging import get_logger

log = get_logger("router.status")

SILENT_INTERVALS: Final = 3  # a process silent this many intervals is forgotten
MAX_RECEIVERS: Final = 500  # per process and word, the troubled first
MAX_PROCESSES: Final = 1000  # remembered by one listener

BreakerState = Literal["closed", "probing", "open"]
SEVERITY: Final[dict[BreakerState, int]] = {"closed": 0, "probing": 1, "open": 2}


@functools.lru_cache(maxsize=4096)
def receiver_of(url: str) -> str:
    """The receiver a webhook URL posts to: its origin, whatever the path, the port always
    spelled. Asked for every request, of a few URLs: each is parsed once."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # stored before ports were checked: its requests fail as they are
        return f"{parts.scheme}://{parts.hostname}"
    return f"{parts.scheme}://{parts.hostname}:{port}"


class ReceiverState(pydantic.BaseModel, frozen=True):
    receiver: str
    in_flight: int
    waiting: int  # events held in memory for a free slot
    breaker: BreakerState
    reopens_in: float | None = None  # seconds until an open breaker lets a probe through
    latency_ms: float | None = None  # the running mean of its requests; None before any


@runtime_checkable
class ReportsReceivers(Protocol):
    """An adapter that knows how its receivers stand."""

    def receiver_states(self) -> list[ReceiverState]: ...


class ProcessState(pydantic.BaseModel, frozen=True):
    process: str
    at: float  # seconds since the epoch
    interval: float
    in_flight: dict[str, int]  # by role
    receivers: tuple[ReceiverState, ...] = ()


def troubled_first(states: Iterable[ReceiverState]) -> list[ReceiverState]:
    return sorted(states, key=lambda s: (-SEVERITY[s.breaker], -s.in_flight - s.waiting))


def silent(state: ProcessState, now: float) -> bool:
    """Not heard from for more than three of its intervals: gone, or cut off."""
    return now - state.at > SILENT_INTERVALS * state.interval


def merged(states: Iterable[ProcessState], now: float) -> dict[str, object]:
    """The word of every process still heard from, summed: in flight by role, and each
    receiver as the worst-off process sees it (breakers are per process)."""
    alive = [s for s in states if not silent(s, now)]
    roles: dict[str, int] = {}
    receivers: dict[str, list[ReceiverState]] = {}
    for state in alive:
        for role, count in state.in_flight.items():
            roles[role] = roles.get(role, 0) + count
        for receiver in state.receivers:
            receivers.setdefault(receiver.receiver, []).append(receiver)
    combined = [combine(name, seen) for name, seen in receivers.items()]
    return {
        "processes": len(alive),
        "in_flight": dict(sorted(roles.items())),
        "receivers": [r.model_dump() for r in troubled_first(combined)],
    }


def combine(name: str, seen: Sequence[ReceiverState]) -> ReceiverState:
    worst = max(seen, key=lambda s: SEVERITY[s.breaker])
    opens = [s.reopens_in for s in seen if s.reopens_in is not None]
    latencies = [s.latency_ms for s in seen if s.latency_ms is not None]
    return ReceiverState(
        receiver=name,
        in_flight=sum(s.in_flight for s in seen),
        waiting=sum(s.waiting for s in seen),
        breaker=worst.breaker,
        reopens_in=max(opens) if opens else None,
        latency_ms=round(max(latencies), 1) if latencies else None,
    )


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def status_exchange(
    connection: AbstractConnection, broker: Broker, exchange: str
) -> tuple[AbstractChannel, AbstractExchange] | None:
    """The exchange on a channel of its own; None when it cannot be had (a broker provisioned
    before it existed): the console then goes without, and deliveries are not held up."""
    try:
        channel = await connection.channel(publisher_confirms=False)
        declared = await channel.declare_exchange(
            status_exchange_name(exchange),
            aio_pika.ExchangeType.FANOUT,
            durable=True,
            passive=broker.provisioned,
        )
    except aio_pika.exceptions.ChannelClosed as exc:
        log.warning("status.unavailable", exchange=status_exchange_name(exchange), error=str(exc))
        return None
    return channel, declared


class StatusReporter:
    """Says this process's state every ``interval`` seconds while connected."""

    def __init__(
        self,
        broker: Broker,
        exchange: str,
        in_flight: Callable[[], Mapping[str, int]],
        sources: Sequence[ReportsReceivers],
        interval: float,
    ) -> None:
        self.broker = broker
        self.exchange = exchange
        self.in_flight = in_flight
        self.sources = sources
        self.interval = interval
        self.process = process_name()
        self._target: AbstractExchange | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def state(self) -> ProcessState:
        receivers = troubled_first(s for source in self.sources for s in source.receiver_states())
        return ProcessState(
            process=self.process,
            at=time.time(),
            interval=self.interval,
            in_flight=dict(self.in_flight()),
            receivers=tuple(receivers[:MAX_RECEIVERS]),
        )

    async def setup(self, connection: AbstractConnection) -> None:
        found = await status_exchange(connection, self.broker, self.exchange)
        self._target = None if found is None else found[1]
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._saying(), name="status-reporter")

    async def close(self) -> None:
        self._closed = True  # a reconnection while stopping starts nothing
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _saying(self) -> None:
        while True:
            target = self._target
            if target is not None and self.broker.ready:
                try:
                    message = aio_pika.Message(
                        self.state().model_dump_json().encode(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                        expiration=SILENT_INTERVALS * self.interval,
                    )
                    await target.publish(message, "", timeout=self.interval)
                except Exception as exc:  # the next word replaces this one
                    log.warning("status.not_said", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.interval)


class StatusBoard:
    """The last word of every delivering process, heard on a private queue."""

    def __init__(self, broker: Broker, exchange: str, interval: float) -> None:
        self.broker = broker
        self.exchange = exchange
        self.interval = interval
        self._states: dict[str, ProcessState] = {}

    async def setup(self, connection: AbstractConnection) -> None:
        found = await status_exchange(connection, self.broker, self.exchange)
        if found is None:
            return
        channel, exchange = found
        try:
            queue = await channel.declare_queue(
                "",
                exclusive=True,
                auto_delete=True,
                arguments={
                    "x-message-ttl": int(SILENT_INTERVALS * self.interval * 1000),
                    "x-max-length": MAX_PROCESSES,
                },
            )
            await queue.bind(exchange)
            await queue.consume(self._heard, no_ack=True)
        except aio_pika.exceptions.ChannelClosed as exc:
            # The console goes without; the connection, and every delivery on it, goes on.
            log.warning("status.unavailable", error=str(exc))

    async def _heard(self, message: AbstractIncomingMessage) -> None:
        try:
            state = ProcessState.model_validate_json(message.body)
        except pydantic.ValidationError:
            log.warning("status.bad_word", body=message.body[:200].decode("utf-8", "replace"))
            return
        self._states.pop(state.process, None)
        self._states[state.process] = state  # the most recent last
        while len(self._states) > MAX_PROCESSES:
            del self._states[next(iter(self._states))]

    def live(self, now: float | None = None) -> dict[str, object]:
        now = time.time() if now is None else now
        for name, state in list(self._states.items()):
            if silent(state, now):
                del self._states[name]
        return merged(self._states.values(), now)
