"""The consumer loop: everything between the broker and an adapter's ``deliver``.

It owns acks, prefetch, broker-side retries and the dead-letter queue, so an adapter only says
what became of one delivery. A message is acked only after its outcome is safe: delivered,
skipped, or a confirmed copy sits in a retry queue or the DLQ. A crash at any point leaves the
message unacked, and RabbitMQ hands it out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

from router import metrics
from router.adapter import Adapter, Dead, Delivery, Outcome, PerTarget, Retry, Skipped
from router.broker import Broker
from router.constants import (
    HEADER_EVENT,
    HEADER_EVENT_ID,
    HEADER_INSTANCE,
    HEADER_TARGET,
    SETTLE_FAILURE_PAUSE_SECONDS,
)
from router.logging import get_logger, mask_url
from router.parking import Finish, Park, Parking, Progress, Settlement, Single
from router.retryqueues import declare_delay_queue, delays_ms, drain_legacy, legacy_delays
from router.topology import (
    AdapterBinding,
    AdapterQueues,
    declare_adapter,
    declare_exchange,
    rebind,
)
from schemas import Envelope, is_event_id

log = get_logger("router.delivery")
# Emptying an earlier release's retry queues is tried again this often, this far apart, while
# one could not be looked at or emptied.
LEGACY_DRAIN_ROUNDS = 20
LEGACY_DRAIN_PAUSE_SECONDS = 15.0


def derived_event_id(body: bytes) -> str:
    """A stable id for an envelope that came without one: the same body gives the same id on
    every adapter and every retry, so receivers can still de-duplicate."""
    digest = bytearray(hashlib.sha256(body).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: custom
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def parse_envelope(message: AbstractIncomingMessage) -> Envelope:
    """The envelope of a message a producer may have published straight to the exchange.

    Missing ``id``, ``instance`` or ``event`` fields are taken from the AMQP properties and
    headers when present; anything still invalid raises ``ValueError``.
    """
    try:
        body = orjson.loads(message.body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError(f"body must be a JSON object, not {type(body).__name__}")
    headers = message.headers or {}
    if "id" not in body:
        given = headers.get(HEADER_EVENT_ID)
        mid = message.message_id
        if isinstance(given, str) and is_event_id(given):
            body["id"] = given
        else:
            body["id"] = mid if mid and is_event_id(mid) else derived_event_id(message.body)
    for field, header in (("instance", HEADER_INSTANCE), ("event", HEADER_EVENT)):
        if field not in body and isinstance(headers.get(header), str):
            body[field] = headers[header]
    return Envelope.model_validate(body)


def target_of(message: AbstractIncomingMessage) -> str | None:
    value = (message.headers or {}).get(HEADER_TARGET)
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Link:
    """The channel a message came on and the dead-letter exchange on that channel: copies and
    the ack must use the same channel, or an ack can be lost across a reconnect."""

    channel: AbstractChannel
    dead: AbstractExchange


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
    ) -> None:
        self.broker = broker
        self.adapter = adapter
        self.exchange_name = exchange
        self.queues = AdapterQueues.for_role(exchange, adapter.name)
        self.dead_letters = bool(getattr(adapter, "dead_letters", False))
        self.prefetch = prefetch
        self.deliver_timeout = deliver_timeout
        self._connection: AbstractConnection | None = None
        self._link: Link | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        # Delay queues declared on the current connection; they are permanent, so once is enough.
        self._delay_queues: set[int] = set()
        policy = adapter.retry_policy
        self.parking = Parking(policy, delays_ms(policy), self.queues.work)
        self._legacy: asyncio.Task[None] | None = None
        self._legacy_done = False
        self.bound_keys: frozenset[str] = frozenset()
        broker.add_setup(self.setup)

    async def setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(
            lambda *_: self.broker.connection_lost("consumer channel closed", connection)
        )
        # A queue deleted under a running consumer cancels it without closing anything;
        # start over so the topology is declared again and consuming resumes.
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(
            lambda _: self.broker.connection_lost("consumer cancelled by the broker", connection)
        )
        await channel.set_qos(prefetch_count=self.prefetch)
        passive = self.broker.provisioned
        exchange = await declare_exchange(channel, self.exchange_name, passive=passive)
        dead = await declare_exchange(channel, self.queues.dead_exchange, passive=passive)
        self.bound_keys = self.adapter.routing_keys()
        binding = AdapterBinding(self.queues, self.bound_keys, self.dead_letters)
        queue = await declare_adapter(channel, exchange, binding, passive=passive)
        self._delay_queues.clear()
        # Strong references for the life of the connection.
        self._connection, self._link, self._queue = connection, Link(channel, dead), queue
        self._tag = await queue.consume(self._on_message, no_ack=False)
        if not self._legacy_done and (self._legacy is None or self._legacy.done()):
            # Beside consuming, until it succeeded once: an upgraded role empties the retry
            # queues an earlier release left behind before they expire with events in them.
            self._legacy = asyncio.create_task(self._drain_legacy(connection))
        log.info(
            "consumer.started",
            adapter=self.adapter.name,
            queue=self.queues.work,
            routing_keys=sorted(self.bound_keys),
            prefetch=self.prefetch,
        )

    async def _drain_legacy(self, connection: AbstractConnection) -> None:
        delays = legacy_delays(self.adapter.retry_policy)
        for _ in range(LEGACY_DRAIN_ROUNDS):
            if connection.is_closed:
                return  # the next connection starts over
            try:
                _, complete = await drain_legacy(connection, self.queues, delays)
            except Exception as exc:
                log.warning("consumer.legacy_drain_failed", queue=self.queues.work, error=str(exc))
                complete = False
            if complete:
                self._legacy_done = True
                return
            await asyncio.sleep(LEGACY_DRAIN_PAUSE_SECONDS)

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
        if self._legacy is not None and not self._legacy.done():
            self._legacy.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._legacy
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
        progress = Progress.of(message.headers or {})
        target = target_of(message)
        try:
            envelope = parse_envelope(message)
        except ValueError as exc:
            reason = f"invalid envelope: {exc}"
            burial = self.parking.bury(Dead(reason), progress.attempt, target, datetime.now(UTC))
            if await self._store(link, message, None, burial):
                await self._ack(message)
                metrics.DELIVERIES.labels(adapter=self.adapter.name, outcome="invalid").inc()
                log.error(
                    "delivery",
                    outcome="invalid",
                    adapter=self.adapter.name,
                    message_id=message.message_id,
                    attempt=progress.attempt,
                    reason=reason,
                )
            else:
                await self._give_back(message, link)
            return
        started = time.perf_counter()
        delivery = Delivery(
            envelope,
            progress.attempt,
            dict(message.headers or {}),
            bool(message.redelivered),
            target,
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
        parts: list[tuple[str | None, Single]] = (
            list(outcome.outcomes.items())
            if isinstance(outcome, PerTarget)
            else [(target, outcome)]
        )
        now = datetime.now(UTC)
        settled = []
        for part_target, part in parts:
            settlement = self.parking.settle(part, progress, part_target, now)
            stored = await self._store(link, message, envelope, settlement)
            if stored:
                self._record(settlement, envelope, progress.attempt, part_target, elapsed)
            settled.append(stored)
        if all(settled):
            await self._ack(message)
        else:
            # A copy could not be stored: hand the whole message back. Targets already done
            # may receive it again; their receivers de-duplicate by event id.
            await self._give_back(message, link)

    async def _store(
        self,
        link: Link,
        message: AbstractIncomingMessage,
        envelope: Envelope | None,
        settlement: Settlement,
    ) -> bool:
        """Store the copy a settlement needs; True once it is safe to ack the original."""
        event_id = envelope.id if envelope else None
        if isinstance(settlement, Finish):
            return True
        if isinstance(settlement, Park):
            copy = self._copy(message, event_id, "retry", settlement.headers)
            return await self._to_retry(link, copy, settlement.delay_ms)
        # Through the dead-letter exchange: the role's DLQ, and the errors webhook if on.
        copy = self._copy(message, event_id, "dead", settlement.headers)
        return await self._publish(link, copy, self.queues.role, dead=True)

    def _record(
        self,
        settlement: Settlement,
        envelope: Envelope,
        attempt: int,
        target: str | None,
        elapsed: float,
    ) -> None:
        outcome = settlement.outcome
        name = type(outcome).__name__.lower()
        fields: dict[str, Any] = {
            "adapter": self.adapter.name,
            "event_id": envelope.id,
            "instance": envelope.instance,
            "_event": envelope.event,
            "destination": mask_url(outcome.destination or target or self.adapter.name),
            "attempt": attempt,
            "duration_ms": round(elapsed * 1000, 1),
        }
        if outcome.status is not None:
            fields["status"] = outcome.status
        if isinstance(outcome, Skipped | Dead):
            fields["reason"] = outcome.reason
        if isinstance(settlement, Park):
            fields.update(error=settlement.outcome.error, retry_in_ms=settlement.delay_ms)
            if not settlement.outcome.counts:
                fields["deferred"] = True
        metrics.DELIVERIES.labels(adapter=self.adapter.name, outcome=name).inc()
        level = {"delivered": "info", "skipped": "info", "retry": "warning"}.get(name, "error")
        getattr(log, level)("delivery", outcome=name, **fields)

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

    def _copy(
        self,
        message: AbstractIncomingMessage,
        event_id: str | None,
        kind: str,
        headers: dict[str, Any],
    ) -> aio_pika.Message:
        base = event_id or message.message_id or "unknown"
        extra = {HEADER_EVENT_ID: event_id} if event_id else {}
        merged = {**(message.headers or {}), **extra, **headers}
        return aio_pika.Message(
            message.body,
            headers={k: v for k, v in merged.items() if v is not None},
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            # Unique per copy: aiormq pairs returns with publishes by message_id.
            message_id=f"{base}:{kind}:{uuid.uuid4().hex[:12]}",
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
        )

    async def _publish(
        self, link: Link, message: aio_pika.Message, routing_key: str, *, dead: bool = False
    ) -> bool:
        """Publish and wait for the confirm, on the channel the original came from."""
        if link.channel.is_closed:
            return False
        exchange = link.dead if dead else link.channel.default_exchange
        try:
            result = await exchange.publish(message, routing_key, mandatory=True, timeout=30)
        except (
            TimeoutError,
            aiormq.exceptions.AMQPError,
            aio_pika.exceptions.DeliveryError,
            ConnectionError,
            RuntimeError,
        ) as exc:
            log.warning("consumer.publish_failed", routing_key=routing_key, error=str(exc))
            return False
        return not isinstance(result, aiormq.abc.DeliveredMessage)

    async def _to_retry(self, link: Link, copy: aio_pika.Message, delay_ms: int) -> bool:
        for _ in range(2):  # a second time only if the queue was deleted under us
            if await self._ensure_delay_queue(delay_ms) and await self._publish(
                link, copy, self.queues.delay(delay_ms)
            ):
                return True
            self._delay_queues.discard(delay_ms)
        return False

    async def _ensure_delay_queue(self, delay_ms: int) -> bool:
        if delay_ms in self._delay_queues:
            return True
        connection = self._connection
        if connection is None or connection.is_closed:
            return False
        try:
            await declare_delay_queue(
                connection, self.queues, delay_ms, passive=self.broker.provisioned
            )
        except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            log.warning("consumer.delay_queue_failed", delay_ms=delay_ms, error=str(exc))
            return False
        self._delay_queues.add(delay_ms)
        return True
