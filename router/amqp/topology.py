"""The broker objects the router relies on, derived from names alone and declared idempotently.

The exchange is a durable topic exchange; routing keys are ``<instance>.<event>``. Each adapter
role owns a durable quorum work queue ``<exchange>.<role>`` bound only to the keys it wants, a
dead-letter queue ``<work>.dlq`` and, declared on first use, permanent TTL delay queues
``<work>.delay.<ms>ms`` where retries wait, dead-lettered back into the work queue when due
(see ``router.delivery.retryqueues``). Downstream consumers get one quorum queue per enabled
event, named ``<prefix>.<wire name>``. Ingest keeps what a producer sent that cannot become an
event (on the paths that must not lose it) in ``<exchange>.ingest.dlq``. The WebSocket role keeps events in a stream,
``<exchange>.websocket``, which every gateway reads in full and from which clients resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from router.constants import (
    RETRY_DELAY_SERIES,
    RETRY_MAX_DELAY_MS,
    RETRY_MIN_DELAY_MS,
    WORK_QUEUE_DELIVERY_LIMIT,
)
from router.logging import get_logger
from schemas import WIRE_NAMES, instance_word

log = get_logger("router.topology")
QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
# At-least-once dead-lettering keeps a message in its queue until the target confirmed it;
# RabbitMQ requires reject-publish overflow for that strategy.
SAFE_DEAD_LETTERING: dict[str, Any] = {
    "x-overflow": "reject-publish",
    "x-dead-letter-strategy": "at-least-once",
}


# RabbitMQ 4 gives quorum queues a default delivery limit of 20 and drops what passes it when
# no dead-letter target is set; ``router dlq list`` returns messages it showed, so the DLQ's
# limit is set far out of reach.
DLQ_ARGUMENTS: dict[str, Any] = {**QUORUM, "x-delivery-limit": 1_000_000}


def quantize_delay_ms(delay_seconds: float) -> int:
    """Round a delay to the nearest Renard R10 value (1, 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8
    times a power of ten), clamped to [100 ms, 24 h]."""
    ms = min(max(delay_seconds * 1000.0, RETRY_MIN_DELAY_MS), RETRY_MAX_DELAY_MS)
    decade = 10 ** math.floor(math.log10(ms))
    candidates = [step * decade for step in (*RETRY_DELAY_SERIES, 10.0)]
    best = min(candidates, key=lambda c: abs(math.log(c / ms)))
    return int(min(max(round(best), RETRY_MIN_DELAY_MS), RETRY_MAX_DELAY_MS))


def every_delay_ms() -> tuple[int, ...]:
    """Every delay a delay queue can be named after, shortest first."""
    found: set[int] = set()
    decade = RETRY_MIN_DELAY_MS
    while decade <= RETRY_MAX_DELAY_MS:
        found.update(quantize_delay_ms(step * decade / 1000) for step in RETRY_DELAY_SERIES)
        decade *= 10
    return tuple(sorted(found))


@dataclass(frozen=True, slots=True)
class AdapterQueues:
    """The queues of one adapter role."""

    exchange: str
    role: str

    @classmethod
    def for_role(cls, exchange: str, role: str) -> AdapterQueues:
        return cls(exchange=exchange, role=role)

    @classmethod
    def of_work(cls, name: str) -> AdapterQueues:
        """The queues whose work queue is ``name`` (exchange names may hold dots, roles not)."""
        exchange, dot, role = name.rpartition(".")
        if not dot or not exchange or not role:
            raise ValueError(f"{name!r} is not a work queue (names are <exchange>.<role>)")
        return cls(exchange=exchange, role=role)

    @classmethod
    def of_dlq(cls, name: str) -> AdapterQueues:
        """The queues whose dead-letter queue is ``name``."""
        if not name.endswith(".dlq"):
            raise ValueError(f"{name!r} is not a dead-letter queue (names end in .dlq)")
        return cls.of_work(name.removesuffix(".dlq"))

    @property
    def work(self) -> str:
        return f"{self.exchange}.{self.role}"

    @property
    def dead_exchange(self) -> str:
        return dead_exchange_name(self.exchange)

    @property
    def dlq(self) -> str:
        return f"{self.work}.dlq"

    def delay(self, delay_ms: int) -> str:
        return f"{self.work}.delay.{delay_ms}ms"

    def legacy_retry(self, delay_ms: int) -> str:
        """Where earlier releases parked retries, in queues that expired (see
        ``router.delivery.retryqueues``)."""
        return f"{self.work}.retry.{delay_ms}ms"

    def work_arguments(self) -> dict[str, Any]:
        return {
            **QUORUM,
            **SAFE_DEAD_LETTERING,
            "x-delivery-limit": WORK_QUEUE_DELIVERY_LIMIT,
            "x-dead-letter-exchange": self.dead_exchange,
            "x-dead-letter-routing-key": self.role,
        }

    def delay_arguments(self, delay_ms: int) -> dict[str, Any]:
        return {
            **QUORUM,
            **SAFE_DEAD_LETTERING,
            # No x-expires: a queue that can hold a message must never be deleted by the broker.
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.work,
        }


def dead_exchange_name(exchange: str) -> str:
    """Every DLQ is fed through this topic exchange with its role as routing key, so one more
    queue (the errors webhook's) can receive a copy of every dead letter."""
    return f"{exchange}.dead"


@dataclass(frozen=True, slots=True)
class AdapterBinding:
    """An adapter role's queues and the routing keys its work queue is bound to, on the main
    exchange or, with ``dead_letters``, on the dead-letter exchange."""

    queues: AdapterQueues
    routing_keys: frozenset[str]
    dead_letters: bool = False
    # The delay queues its retries can wait in (milliseconds); declared on first use, so only
    # definitions for a provisioned broker hold them all from the start.
    delays: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamBinding:
    """A stream (append-only, read by offset) bound to the exchange: consumers read it without
    removing anything, so every reader sees every event and can start again from the past."""

    name: str
    routing_keys: frozenset[str]
    max_age: str  # RabbitMQ's x-max-age: a number and one of Y M D h m s ("1D", "12h")
    max_bytes: int
    # Retention drops whole segments, once a newer one is started: the size sets how finely.
    segment_bytes: int | None = None  # None: RabbitMQ's (500 MB)

    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": "stream",
            "x-max-age": self.max_age,
            "x-max-length-bytes": self.max_bytes,
        }
        if self.segment_bytes is not None:
            arguments["x-stream-max-segment-size-bytes"] = self.segment_bytes
        return arguments


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


@dataclass(frozen=True, slots=True)
class Topology:
    exchange: str
    adapters: tuple[AdapterBinding, ...] = ()
    downstream_queues: tuple[tuple[str, str], ...] = ()  # (queue name, binding key)
    streams: tuple[StreamBinding, ...] = ()
    ingest_dlq: bool = False
    # The fanout exchange configuration changes are announced on, one private queue per process.
    announcements: bool = False

    @property
    def config_exchange(self) -> str:
        return config_exchange_name(self.exchange)

    def routes(self, routing_key: str) -> bool:
        """Whether a queue this topology declares is bound to ``routing_key``."""
        patterns = [k for b in self.adapters if not b.dead_letters for k in b.routing_keys]
        patterns += [key for _, key in self.downstream_queues]
        patterns += [key for s in self.streams for key in s.routing_keys]
        return any(topic_matches(p, routing_key) for p in patterns)


def config_exchange_name(exchange: str) -> str:
    return f"{exchange}.config"


def status_exchange_name(exchange: str) -> str:
    """Where delivering processes say what they are doing (``router.delivery.status``)."""
    return f"{exchange}.status"


def ingest_dlq_name(exchange: str) -> str:
    return f"{exchange}.ingest.dlq"


def downstream_queue_name(prefix: str, wire: str) -> str:
    return f"{prefix}.{wire}" if prefix else wire


def instance_queue_names(instance: str, events: frozenset[str] | None) -> dict[str, str]:
    """An instance's own queues (its ``rabbitmq`` block, Evolution's per-instance mode) by
    event, each named as the routing key it is bound to: ``<instance>.<event>``; ``events``
    None: every event."""
    word = instance_word(instance)
    return {wire: f"{word}.{wire}" for wire in (WIRE_NAMES if events is None else sorted(events))}


def downstream_queues(prefix: str, wires: Iterable[str]) -> tuple[tuple[str, str], ...]:
    return tuple((downstream_queue_name(prefix, w), f"*.{w}") for w in wires)


# ``passive`` below: the broker was provisioned (``RABBITMQ_PROVISIONED``); a declaration only
# checks that the object exists, which needs no configure permission. Bindings are still made.


async def declare_exchange(
    channel: AbstractChannel, name: str, *, passive: bool = False
) -> AbstractExchange:
    return await channel.declare_exchange(
        name, aio_pika.ExchangeType.TOPIC, durable=True, passive=passive
    )


async def declare_queue(
    channel: AbstractChannel, name: str, arguments: dict[str, Any], *, passive: bool = False
) -> AbstractQueue:
    if passive:
        return await channel.declare_queue(name, passive=True)
    return await channel.declare_queue(name, durable=True, arguments=arguments)


async def declare_adapter(
    channel: AbstractChannel,
    exchange: AbstractExchange,
    binding: AdapterBinding,
    *,
    passive: bool = False,
) -> AbstractQueue:
    """Declare the work queue and its DLQ, and make the bindings match ``routing_keys`` exactly.

    Keys no longer wanted cannot be listed over AMQP, so stale bindings are removed only for
    keys this process bound before; see :func:`rebind`.
    """
    queues = binding.queues
    dead = await declare_exchange(channel, queues.dead_exchange, passive=passive)
    dlq = await declare_queue(channel, queues.dlq, DLQ_ARGUMENTS, passive=passive)
    await dlq.bind(dead, routing_key=queues.role)
    work = await declare_queue(channel, queues.work, queues.work_arguments(), passive=passive)
    source = dead if binding.dead_letters else exchange
    for key in sorted(binding.routing_keys):
        await work.bind(source, routing_key=key)
    return work


def binding_changes(old: Iterable[str], new: Iterable[str]) -> tuple[list[str], list[str]]:
    """The keys to bind and the keys to unbind (each sorted) to go from ``old`` to ``new``;
    keys in both are left as they are, so a binding is never missing in between."""
    old_keys, new_keys = set(old), set(new)
    return sorted(new_keys - old_keys), sorted(old_keys - new_keys)


async def rebind(
    queue: AbstractQueue, exchange: AbstractExchange, old: Iterable[str], new: Iterable[str]
) -> None:
    """Make ``queue``'s bindings on ``exchange`` go from ``old`` to ``new``."""
    to_bind, to_unbind = binding_changes(old, new)
    for key in to_bind:
        await queue.bind(exchange, routing_key=key)
    for key in to_unbind:
        await queue.unbind(exchange, routing_key=key)


async def declare(
    channel: AbstractChannel, topology: Topology, *, passive: bool = False
) -> AbstractExchange:
    """Declare everything ``topology`` describes; safe to call again at any time."""
    exchange = await declare_exchange(channel, topology.exchange, passive=passive)
    for binding in topology.adapters:
        await declare_adapter(channel, exchange, binding, passive=passive)
    for name, key in topology.downstream_queues:
        queue = await declare_queue(channel, name, QUORUM, passive=passive)
        await queue.bind(exchange, routing_key=key)
    for stream in topology.streams:
        queue = await (
            declare_queue(channel, stream.name, {}, passive=True)
            if passive
            else declare_stream(channel, stream)
        )
        for key in sorted(stream.routing_keys):
            await queue.bind(exchange, routing_key=key)
    if topology.ingest_dlq:
        await declare_queue(
            channel, ingest_dlq_name(topology.exchange), DLQ_ARGUMENTS, passive=passive
        )
    return exchange


_SCRATCH_LOCKS: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


def scratch_lock(connection: object) -> asyncio.Lock:
    """The lock scratch channels of one (aiormq) connection take, one at a time: a channel the
    broker closes (a refused or passive declare) gives its number back before the broker has
    seen the close acknowledged, and a channel opened with that number at that moment makes
    the broker close the whole connection ("second 'channel.open' seen")."""
    lock = _SCRATCH_LOCKS.get(connection)
    if lock is None:
        lock = _SCRATCH_LOCKS[connection] = asyncio.Lock()
    return lock


class Closable(Protocol):
    @property
    def is_closed(self) -> bool: ...

    def close(self) -> Awaitable[Any]: ...


C = TypeVar("C", bound=Closable)


async def scratch(
    connection: object, opening: Callable[[], Awaitable[C]], work: Callable[[C], Awaitable[object]]
) -> aiormq.exceptions.ChannelClosed | None:
    """Run ``work`` on a channel of its own (``opening`` opens it on ``connection``, the aiormq
    connection), one at a time per connection, closed after. A refusal (other arguments, a
    missing permission, a missing queue) closes that channel only, and is returned."""
    async with scratch_lock(connection):
        channel = await opening()
        try:
            await work(channel)
        except aiormq.exceptions.ChannelClosed as exc:
            return exc
        finally:
            if not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()
        return None


async def apart(
    channel: AbstractChannel, work: Callable[[aiormq.abc.AbstractChannel], Awaitable[object]]
) -> aiormq.exceptions.ChannelClosed | None:
    """Run ``work`` on a scratch channel of ``channel``'s connection (see ``scratch``)."""
    underlay = await channel.get_underlay_channel()
    return await scratch(underlay.connection, underlay.connection.channel, work)


async def declare_stream(channel: AbstractChannel, stream: StreamBinding) -> AbstractQueue:
    """Declare ``stream`` and hand back a handle on ``channel``.

    A stream that exists with other retention arguments refuses the declaration; it is then
    used as it is, with a warning, rather than stopping every role over a retention setting.
    """
    refused = await apart(
        channel,
        lambda ch: ch.queue_declare(stream.name, durable=True, arguments=stream.arguments()),
    )
    if isinstance(refused, aiormq.exceptions.ChannelPreconditionFailed):
        log.warning("topology.stream_differs", stream=stream.name, error=str(refused))
    elif refused is not None:
        raise refused
    return await channel.get_queue(stream.name, ensure=False)
