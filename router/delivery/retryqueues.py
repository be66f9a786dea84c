"""The delay queues a retry policy can use, and their declaration.

Retry delays are rounded to the R10 series (:func:`router.amqp.topology.quantize_delay_ms`), so a
policy uses the R10 values between its shortest delay and its longest: the shortest is the
initial delay less its jitter, or one second (how long an event waits for a busy receiver
whose pace is not known yet) if that is shorter; the longest is twice the longest delay plus jitter (``Retry-After``
is honoured up to twice the backoff). The consumer moves any delay outside that range to its
nearest end, so a role never has more delay queues than its policy implies.

Delay queues (``<work>.delay.<ms>ms``) are permanent: a queue that may hold a message must never
expire. Earlier releases parked events in ``<work>.retry.<ms>ms``, declared with ``x-expires``,
which RabbitMQ 3.10 does not renew for quorum queues, so such a queue was deleted with its
messages a fixed time after it was made. When a consumer first connects it empties any such
queue into its work queue (each event simply comes back a little early) and never parks there
again; an empty one then expires by itself.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Awaitable, Callable

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from router.amqp.topology import AdapterQueues, declare_queue, quantize_delay_ms, scratch
from router.constants import RETRY_DELAY_SERIES, RETRY_MAX_DELAY_MS
from router.delivery.adapter import RetryPolicy
from router.logging import get_logger

BUSY_DELAY_MS = 1000
# Upper bound of messages moved from one queue, so draining always ends.
MIGRATION_BATCH = 1_000_000

log = get_logger("router.retryqueues")


def delays_ms(policy: RetryPolicy) -> tuple[int, ...]:
    """Every quantised delay, in milliseconds, that ``policy`` can ask for, shortest first."""
    shortest = min(policy.initial_delay, policy.max_delay) * (1 - policy.jitter)
    low = min(quantize_delay_ms(shortest), BUSY_DELAY_MS)
    high = quantize_delay_ms(2 * max(policy.max_delay, policy.initial_delay) * (1 + policy.jitter))
    found: set[int] = set()
    decade = 1
    while decade <= RETRY_MAX_DELAY_MS:
        for step in RETRY_DELAY_SERIES:
            ms = quantize_delay_ms(step * decade / 1000)
            if low <= ms <= high:
                found.add(ms)
        decade *= 10
    return tuple(sorted(found))


def within(delay_ms: int, delays: tuple[int, ...]) -> int:
    """``delay_ms`` (already quantised) moved into the range ``delays`` covers."""
    return min(max(delay_ms, delays[0]), delays[-1])


def at_most(delay_ms: float, delays: tuple[int, ...]) -> int:
    """The longest of ``delays`` not past ``delay_ms`` (the shortest if all are): a wait that
    must not end late, only early."""
    return delays[max(0, bisect.bisect_right(delays, delay_ms) - 1)]


ScratchWork = Callable[[AbstractChannel], Awaitable[object]]


async def on_scratch(
    connection: AbstractConnection, work: ScratchWork, *, confirms: bool = False
) -> aiormq.exceptions.ChannelClosed | None:
    """Run ``work`` on an aio-pika channel of its own (see ``topology.scratch``)."""
    transport = connection.transport
    return await scratch(
        connection if transport is None else transport.connection,
        lambda: connection.channel(publisher_confirms=confirms),
        work,
    )


async def declare_delay_queue(
    connection: AbstractConnection, queues: AdapterQueues, delay_ms: int, *, passive: bool
) -> None:
    """Make sure the delay queue for ``delay_ms`` exists. One that exists with other arguments
    is used as it is: it still returns its events to the work queue. Raises only when the
    broker refuses it for another reason (a missing permission)."""
    name = queues.delay(delay_ms)
    arguments = queues.delay_arguments(delay_ms)
    refused = await on_scratch(
        connection, lambda ch: declare_queue(ch, name, arguments, passive=passive)
    )
    if isinstance(refused, aiormq.exceptions.ChannelPreconditionFailed):
        log.warning("retryqueues.differs", queue=name, error=str(refused))
    elif refused is not None:
        raise refused


def legacy_delays(policy: RetryPolicy) -> tuple[int, ...]:
    """The delays an earlier release may have parked events under: it did not keep delays
    within the policy's range, so a breaker's remaining cool-down could be any R10 value from
    the shortest up, and its policy may have been the default one, with longer delays."""
    high = max(delays_ms(policy)[-1], delays_ms(RetryPolicy())[-1])
    return tuple(ms for ms in all_delays() if ms <= high)


def all_delays() -> tuple[int, ...]:
    return delays_ms(RetryPolicy(initial_delay=0, max_delay=RETRY_MAX_DELAY_MS / 1000, jitter=0))


async def drain_legacy(
    connection: AbstractConnection,
    queues: AdapterQueues,
    delays: tuple[int, ...],
    stop: asyncio.Event | None = None,
) -> tuple[int, bool]:
    """Empty the expiring retry queues of an earlier release into the work queue; returns how
    many events were moved, and whether every queue was seen to be missing or emptied. Nothing
    parks events there any more, so once empty they expire by themselves. Once ``stop`` is set
    it ends after the queue at hand (incomplete)."""
    moved = 0
    complete = True
    for delay_ms in delays:
        if stop is not None and stop.is_set():
            return moved, False
        name = queues.legacy_retry(delay_ms)
        found: list[int] = []

        async def look(
            channel: AbstractChannel, name: str = name, found: list[int] = found
        ) -> None:
            queue = await channel.declare_queue(name, passive=True)
            found.append(queue.declaration_result.message_count or 0)

        refused = await on_scratch(connection, look)
        if isinstance(refused, aiormq.exceptions.ChannelNotFoundEntity):
            continue  # no such queue: the usual case
        if refused is not None or not found:
            complete = False  # not allowed to look, or the channel failed: look again later
            continue
        count, emptied = await empty_into(connection, name, queues.work) if found[0] else (0, True)
        moved += count
        complete = complete and emptied
        log.warning("retryqueues.legacy_drained", queue=name, moved=count, emptied=emptied)
    return moved, complete


async def empty_into(connection: AbstractConnection, source: str, work: str) -> tuple[int, bool]:
    """Move every message of ``source`` to the queue ``work``, each acked only once the copy is
    confirmed; returns how many were moved, and whether ``source`` was found empty at the end."""
    moved = 0

    async def move(channel: AbstractChannel) -> None:
        nonlocal moved
        queue = await channel.get_queue(source, ensure=False)
        for _ in range(MIGRATION_BATCH):
            message = await queue.get(no_ack=False, fail=False, timeout=10)
            if message is None:
                return
            result = await channel.default_exchange.publish(
                copy_of(message), work, mandatory=True, timeout=10
            )
            if isinstance(result, aiormq.abc.DeliveredMessage):
                raise RuntimeError(f"the work queue {work!r} did not take a message")
            await message.ack()
            moved += 1

    refused: BaseException | None
    try:
        refused = await on_scratch(connection, move, confirms=True)
    except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError, TimeoutError) as exc:
        refused = exc
    if refused is not None:
        log.warning("retryqueues.empty_failed", queue=source, moved=moved, error=str(refused))
        return moved, False
    return moved, True


def copy_of(message: AbstractIncomingMessage) -> aio_pika.Message:
    return aio_pika.Message(
        message.body,
        headers=dict(message.headers or {}),
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


# Emptying an earlier release's retry queues is tried again this often, this far apart, while
# one could not be looked at or emptied.
LEGACY_DRAIN_ROUNDS = 20
LEGACY_DRAIN_PAUSE_SECONDS = 15.0
# How long stopping waits for the queue at hand (a look is a channel opened and closed): a
# look cut off half-way leaves the broker and the client disagreeing about that channel.
LEGACY_STOP_WAIT_SECONDS = 5.0


class LegacyDrain:
    """Beside consuming, until it succeeded once: an upgraded role empties the retry queues
    an earlier release left behind, before they expire with events in them."""

    def __init__(
        self,
        queues: AdapterQueues,
        policy: RetryPolicy,
        connect: Callable[[], Awaitable[AbstractConnection]],
    ) -> None:
        self.queues = queues
        self.delays = legacy_delays(policy)
        # A connection of its own: each look at a missing queue is a channel the broker
        # closes, and aiormq drops its close-ok when the connection's write queue is full (a
        # busy consumer's acks), after which the next channel opened with that number
        # closes the whole connection ("second 'channel.open' seen").
        self.connect = connect
        self.done = False
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self, connection: AbstractConnection, ready: Callable[[], Awaitable[object]]) -> None:
        """On each new connection of the role until it succeeded once (one still at work
        from an earlier connection is stopped and started over). It begins once ``ready``
        returns (every set-up step has run), and looks at the queues on a connection of its
        own (``connect``), never on the role's."""
        if self.done:
            return
        self._stop.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.create_task(self._run(connection, ready))

    async def stop(self) -> None:
        """Let the queue at hand be finished, then stop (shutdown)."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None or task.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), LEGACY_STOP_WAIT_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(
        self, connection: AbstractConnection, ready: Callable[[], Awaitable[object]]
    ) -> None:
        await ready()
        for _ in range(LEGACY_DRAIN_ROUNDS):
            if connection.is_closed or self._stop.is_set():
                return  # the next connection starts over
            try:
                own = await self.connect()
                try:
                    _, complete = await drain_legacy(own, self.queues, self.delays, self._stop)
                finally:
                    await own.close()
            except Exception as exc:
                log.warning("consumer.legacy_drain_failed", queue=self.queues.work, error=str(exc))
                complete = False
            if complete:
                self.done = True
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), LEGACY_DRAIN_PAUSE_SECONDS)
