"""The consumer loop: everything between the broker and an adapter's ``deliver``.

It owns acks, prefetch, broker-side retries and the dead-letter queue, so an adapter only says
what became of one delivery. A message is acked only after its outcome is safe: delivered,
skipped, or a confirmed copy sits in a retry queue or the DLQ. A crash at any point leaves the
message unacked, and RabbitMQ hands it out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from aio_pika.abc import (
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)

from router.amqp.broker import Broker, connect_any
from router.amqp.codec import decode, target_of
from router.amqp.headers import RetryState
from router.amqp.topology import (
    AdapterBinding,
    AdapterQueues,
    declare_adapter,
    declare_exchange,
    rebind,
)
from router.constants import SETTLE_FAILURE_PAUSE_SECONDS
from router.delivery.adapter import Adapter, Dead, Delivery, Outcome, Retry, Single
from router.delivery.copies import Copies, Link
from router.delivery.parking import Parking
from router.delivery.report import report, report_invalid
from router.delivery.retryqueues import LegacyDrain, delays_ms
from router.history import Sink
from router.logging import get_logger
from router.replay.routes import Destination
from router.roles import role_of

log = get_logger("router.delivery")
# (the queue that was gone, from when) -> the gap asked of the archive
Refill = Callable[[Destination, datetime], Coroutine[Any, Any, object]]
# (adapter, target, outcome) of each delivery settled; must not wait
Watch = Callable[[str, str | None, Single], object]
# Events archived shortly before the consumer heard of the deletion may not have been taken.
REFILL_MARGIN = timedelta(seconds=5)


class Consumer:
    """Feeds one adapter from its work queue; it registers itself with the broker's set-up."""

    def __init__(
        self,
        broker: Broker,
        adapter: Adapter,
        exchange: str,
        *,
        prefetch: int = 64,
        deliver_timeout: float = 120.0,
        history: Sink | None = None,
        refill: Refill | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.broker = broker
        self.history = history  # where each outcome's attempt record goes
        self.adapter = adapter
        self.exchange_name = exchange
        self.queues = AdapterQueues.for_role(exchange, adapter.name)
        self.dead_letters = adapter.feed.dead_letters
        self.prefetch = prefetch
        self.deliver_timeout = deliver_timeout
        self._link: Link | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.copies = Copies(broker, self.queues)
        policy = adapter.retry_policy
        self.parking = Parking(policy, delays_ms(policy), self.queues.work)
        self.legacy = LegacyDrain(
            self.queues, policy, lambda: connect_any(broker.url, f"{broker.name}-legacy-drain")
        )
        self.bound_keys: frozenset[str] = frozenset()
        # Asks the archive again for what came in while the work queue was gone (deleted by
        # hand): only the archive took those events in then.
        self.refill = refill
        self.watch = watch  # hears each outcome, for the endpoint's lifecycle
        self._vanished_at: datetime | None = None
        self._refilling: set[asyncio.Task[object]] = set()

    @property
    def in_flight(self) -> int:
        """Deliveries under way now."""
        return len(self._inflight)

    async def setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(
            lambda *_: self.broker.connection_lost("consumer channel closed", connection)
        )
        # A queue deleted under a running consumer cancels it without closing anything;
        # start over so the topology is declared again and consuming resumes.
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(lambda _: self._vanished(connection))
        await channel.set_qos(prefetch_count=self.prefetch)
        passive = self.broker.provisioned
        exchange = await declare_exchange(channel, self.exchange_name, passive=passive)
        dead = await declare_exchange(channel, self.queues.dead_exchange, passive=passive)
        self.bound_keys = self.adapter.routing_keys()
        binding = AdapterBinding(self.queues, self.bound_keys, self.dead_letters)
        queue = await declare_adapter(channel, exchange, binding, passive=passive)
        self.copies.reset()
        # Strong references for the life of the connection.
        self._link, self._queue = Link(connection, channel, dead), queue
        self._tag = await queue.consume(self._on_message, no_ack=False)
        self.legacy.start(connection, self.broker.wait_ready)
        log.info(
            "consumer.started",
            adapter=self.adapter.name,
            queue=self.queues.work,
            routing_keys=sorted(self.bound_keys),
            prefetch=self.prefetch,
        )
        if self._vanished_at is not None and self.refill is not None:
            since, self._vanished_at = self._vanished_at - REFILL_MARGIN, None
            role = role_of(self.adapter.name)
            gap = Destination(role, self.queues.work, self.bound_keys)
            task = asyncio.create_task(self.refill(gap, since), name=f"refill {gap.queue}")
            self._refilling.add(task)
            task.add_done_callback(self._refilled)
            log.warning("consumer.refilling", queue=gap.queue, since=since.isoformat())

    def _refilled(self, task: asyncio.Task[object]) -> None:
        self._refilling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("consumer.refill_failed", queue=self.queues.work, error=str(task.exception()))

    def _vanished(self, connection: AbstractConnection) -> None:
        """The broker cancelled the consumer: its queue was deleted. Start over, so the
        topology is declared again and consuming resumes, then ask for the gap."""
        if self._vanished_at is None:
            self._vanished_at = datetime.now(UTC)
        self.broker.connection_lost("consumer cancelled by the broker", connection)

    async def rebind(self, keys: frozenset[str]) -> None:
        """Make the work queue's bindings ``keys`` (subscriptions changed at run time)."""
        link, queue = self._link, self._queue
        if link is None or queue is None:
            return
        source = (
            link.dead
            if self.dead_letters
            else await declare_exchange(
                link.channel, self.exchange_name, passive=self.broker.provisioned
            )
        )
        await rebind(queue, source, self.bound_keys, keys)
        self.bound_keys = keys

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # aio-pika already runs each message in a task of its own; it is tracked so that
        # shutdown can wait for deliveries in progress.
        link = self._link
        task = asyncio.current_task()
        if link is None or task is None:
            return
        self._inflight.add(task)
        try:
            await self._handle(message, link)
        finally:
            self._inflight.discard(task)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop taking new messages and let deliveries in progress settle (shutdown)."""
        queue, tag, self._tag = self._queue, self._tag, None
        await self.legacy.stop()
        for refilling in list(self._refilling):
            refilling.cancel()
        if queue is not None and tag is not None:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=timeout)
            # Still running past the grace period: cancel; unacked, they are redelivered.
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _handle(self, message: AbstractIncomingMessage, link: Link) -> None:
        try:
            await self._process(message, link)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "consumer.settle_failed", adapter=self.adapter.name, message_id=message.message_id
            )
            await self._give_back(message)

    async def _process(self, message: AbstractIncomingMessage, link: Link) -> None:
        state = RetryState.from_headers(message.headers or {})
        target = target_of(message)
        try:
            envelope = decode(message)
        except ValueError as exc:
            reason = f"invalid envelope: {exc}"
            burial = self.parking.bury(Dead(reason), state.attempt, target, datetime.now(UTC))
            if await self.copies.store(link, message, None, burial):
                await self._ack(message)
                report_invalid(self.adapter.name, message.message_id, state.attempt, reason)
            else:
                await self._give_back(message, link)
            return
        started = time.perf_counter()
        delivery = Delivery(
            envelope, state.attempt, dict(message.headers or {}), bool(message.redelivered), target
        )
        try:
            async with asyncio.timeout(self.deliver_timeout):
                outcome: Outcome = await self.adapter.deliver(delivery)
        except TimeoutError:
            outcome = Retry(error=f"delivery took longer than {self.deliver_timeout:g}s")
        except Exception as exc:
            log.exception("adapter.error", adapter=self.adapter.name, event_id=envelope.id)
            outcome = Retry(error=f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        settled = []
        for part_target, settlement in self.parking.plan(outcome, state, target, datetime.now(UTC)):
            stored = await self.copies.store(link, message, envelope.id, settlement)
            if stored:
                report(
                    self.adapter.name,
                    settlement,
                    envelope,
                    state.attempt,
                    part_target,
                    elapsed,
                    self.history,
                )
                if self.watch is not None:
                    try:
                        self.watch(self.adapter.name, part_target, settlement.outcome)
                    except Exception:  # the outcome is safe already; only its watching failed
                        log.exception("consumer.watch_failed", adapter=self.adapter.name)
            settled.append(stored)
        if all(settled):
            await self._ack(message)
        else:
            # A copy could not be stored: hand the whole message back. Targets already done
            # may receive it again; their receivers de-duplicate by event id.
            await self._give_back(message, link)

    async def _ack(self, message: AbstractIncomingMessage) -> None:
        # A failed ack means the channel is gone; the broker redelivers, nothing is lost.
        with contextlib.suppress(Exception):
            await message.ack()

    async def _give_back(self, message: AbstractIncomingMessage, link: Link | None = None) -> None:
        """The outcome could not be made safe: the broker hands the message out again. On a
        closed channel there is nothing to do; the broker has taken it back already."""
        if link is not None and link.channel.is_closed:
            return
        # A pause first, so a persistent fault does not become a hot redelivery loop.
        await asyncio.sleep(SETTLE_FAILURE_PAUSE_SECONDS)
        with contextlib.suppress(Exception):
            await message.nack(requeue=True)
