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
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from router import metrics
from router.adapter import Adapter, Dead, Delivered, Delivery, Outcome, Retry, Skipped
from router.broker import Broker
from router.constants import (
    HEADER_ATTEMPT,
    HEADER_ATTEMPTS,
    HEADER_DEAD_AT,
    HEADER_DESTINATION,
    HEADER_EVENT,
    HEADER_INSTANCE,
    HEADER_LAST_ERROR,
    HEADER_LAST_STATUS,
    HEADER_REASON,
    HEADER_SOURCE_QUEUE,
    RETRY_QUEUE_REDECLARE_SECONDS,
)
from router.logging import get_logger
from router.topology import (
    AdapterBinding,
    AdapterQueues,
    declare_adapter,
    declare_exchange,
    declare_retry_queue,
    quantize_delay_ms,
)
from schemas import Envelope, is_event_id

log = get_logger("router.delivery")
# Header values are capped so a huge error text cannot bloat every retried message.
MAX_ERROR_CHARS = 2000


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
        mid = message.message_id
        body["id"] = mid if mid and is_event_id(mid) else derived_event_id(message.body)
    for field, header in (("instance", HEADER_INSTANCE), ("event", HEADER_EVENT)):
        if field not in body and isinstance(headers.get(header), str):
            body[field] = headers[header]
    return Envelope.model_validate(body)


def attempt_of(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(HEADER_ATTEMPT, 1)
    return value if isinstance(value, int) and value >= 1 else 1


class Consumer:
    """Feeds one adapter from its work queue; register with :meth:`Broker.add_setup`."""

    def __init__(
        self, broker: Broker, adapter: Adapter, exchange: str, *, prefetch: int = 64
    ) -> None:
        self.broker = broker
        self.adapter = adapter
        self.exchange_name = exchange
        self.queues = AdapterQueues.for_role(exchange, adapter.name)
        self.prefetch = prefetch
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._retry_declared: dict[int, float] = {}
        self.bound_keys: frozenset[str] = frozenset()
        self._tag: str | None = None
        broker.add_setup(self.setup)

    async def setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(
            lambda *_: self.broker.connection_lost("consumer channel closed")
        )
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await declare_exchange(channel, self.exchange_name)
        self.bound_keys = self.adapter.routing_keys()
        queue = await declare_adapter(
            channel, exchange, AdapterBinding(self.queues, self.bound_keys)
        )
        self._retry_declared.clear()
        self._channel, self._queue = channel, queue  # strong references for the connection's life
        self._tag = await queue.consume(self._on_message, no_ack=False)
        log.info(
            "consumer.started",
            adapter=self.adapter.name,
            queue=self.queues.work,
            routing_keys=sorted(self.bound_keys),
            prefetch=self.prefetch,
        )

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.create_task(self._handle(message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop taking new messages and let deliveries in progress settle (shutdown)."""
        queue, tag, self._tag = self._queue, self._tag, None
        if queue is not None and tag is not None:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        attempt = attempt_of(message)
        try:
            envelope = parse_envelope(message)
        except ValueError as exc:
            await self._dead_letter(
                message, None, f"invalid envelope: {exc}", attempt, Dead(str(exc))
            )
            return
        started = time.perf_counter()
        try:
            outcome: Outcome = await self.adapter.deliver(
                Delivery(envelope, attempt, dict(message.headers or {}), bool(message.redelivered))
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("adapter.error", adapter=self.adapter.name, event_id=envelope.id)
            outcome = Retry(error=f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        await self._settle(message, envelope, attempt, outcome, elapsed)

    async def _settle(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        attempt: int,
        outcome: Outcome,
        elapsed: float,
    ) -> None:
        policy = self.adapter.retry_policy
        if isinstance(outcome, Retry) and policy.gives_up_after(attempt):
            outcome = Dead(
                f"gave up after {attempt} attempts: {outcome.error}",
                destination=outcome.destination,
                status=outcome.status,
            )
        fields: dict[str, Any] = {
            "adapter": self.adapter.name,
            "event_id": envelope.id,
            "instance": envelope.instance,
            "_event": envelope.event,
            "destination": outcome.destination or self.adapter.name,
            "attempt": attempt,
            "duration_ms": round(elapsed * 1000, 1),
        }
        if outcome.status is not None:
            fields["status"] = outcome.status
        if isinstance(outcome, Delivered | Skipped):
            if isinstance(outcome, Skipped):
                fields["reason"] = outcome.reason
            await self._ack(message)
            self._record(outcome, fields)
        elif isinstance(outcome, Retry):
            delay = outcome.delay if outcome.delay is not None else policy.delay_for(attempt)
            delay_ms = quantize_delay_ms(delay)
            if await self._to_retry(message, attempt, outcome, delay_ms):
                self._record(outcome, {**fields, "error": outcome.error, "retry_in_ms": delay_ms})
        else:
            if await self._dead_letter(message, envelope, outcome.reason, attempt, outcome):
                self._record(outcome, {**fields, "reason": outcome.reason})

    def _record(self, outcome: Outcome, fields: dict[str, Any]) -> None:
        name = type(outcome).__name__.lower()
        metrics.DELIVERIES.labels(adapter=self.adapter.name, outcome=name).inc()
        level = {"delivered": "info", "skipped": "info", "retry": "warning"}.get(name, "error")
        getattr(log, level)("delivery", outcome=name, **fields)

    async def _ack(self, message: AbstractIncomingMessage) -> None:
        # A failed ack means the channel is gone; the broker redelivers, nothing is lost.
        with contextlib.suppress(Exception):
            await message.ack()

    def _copy(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
        return aio_pika.Message(
            message.body,
            headers={**(message.headers or {}), **headers},
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
        )

    async def _publish(self, message: aio_pika.Message, queue: str) -> bool:
        """Publish to ``queue`` through the default exchange and wait for the confirm."""
        channel = self._channel
        if channel is None or channel.is_closed:
            return False
        try:
            result = await channel.default_exchange.publish(
                message, queue, mandatory=True, timeout=30
            )
        except (
            TimeoutError,
            aiormq.exceptions.AMQPError,
            aio_pika.exceptions.DeliveryError,
            ConnectionError,
            RuntimeError,
        ) as exc:
            log.warning("consumer.publish_failed", queue=queue, error=str(exc))
            return False
        return not isinstance(result, aiormq.abc.DeliveredMessage)

    async def _to_retry(
        self, message: AbstractIncomingMessage, attempt: int, outcome: Retry, delay_ms: int
    ) -> bool:
        channel = self._channel
        if channel is None:
            return False
        copy = self._copy(
            message,
            {
                HEADER_ATTEMPT: attempt + 1,
                HEADER_LAST_ERROR: outcome.error[:MAX_ERROR_CHARS],
                **({HEADER_LAST_STATUS: outcome.status} if outcome.status is not None else {}),
            },
        )
        for _ in range(2):  # a second time only if the queue expired between declare and publish
            name = await self._retry_queue(channel, delay_ms)
            if name is not None and await self._publish(copy, name):
                await self._ack(message)
                return True
            self._retry_declared.pop(delay_ms, None)
        # Left unacked: the broker hands the message out again once this channel is gone.
        with contextlib.suppress(Exception):
            await message.nack(requeue=True)
        return False

    async def _retry_queue(self, channel: AbstractChannel, delay_ms: int) -> str | None:
        declared = self._retry_declared.get(delay_ms)
        now = time.monotonic()
        if declared is None or now - declared > RETRY_QUEUE_REDECLARE_SECONDS:
            try:
                await declare_retry_queue(channel, self.queues, delay_ms)
            except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
                log.warning("consumer.retry_queue_failed", delay_ms=delay_ms, error=str(exc))
                return None
            self._retry_declared[delay_ms] = now
        return self.queues.retry(delay_ms)

    async def _dead_letter(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope | None,
        reason: str,
        attempt: int,
        outcome: Dead,
    ) -> bool:
        headers: dict[str, Any] = {
            HEADER_REASON: reason[:MAX_ERROR_CHARS],
            HEADER_ATTEMPTS: attempt,
            HEADER_DEAD_AT: datetime.now(UTC).isoformat(timespec="milliseconds"),
            HEADER_SOURCE_QUEUE: self.queues.work,
        }
        if outcome.destination:
            headers[HEADER_DESTINATION] = outcome.destination
        if outcome.status is not None:
            headers[HEADER_LAST_STATUS] = outcome.status
        if await self._publish(self._copy(message, headers), self.queues.dlq):
            await self._ack(message)
            if envelope is None:
                metrics.DELIVERIES.labels(adapter=self.adapter.name, outcome="invalid").inc()
                log.error(
                    "delivery",
                    outcome="invalid",
                    adapter=self.adapter.name,
                    message_id=message.message_id,
                    attempt=attempt,
                    reason=reason,
                )
            return True
        with contextlib.suppress(Exception):
            await message.nack(requeue=True)
        return False
