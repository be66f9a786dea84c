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
import math
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
    HEADER_EVENT_ID,
    HEADER_INSTANCE,
    HEADER_LAST_ERROR,
    HEADER_LAST_STATUS,
    HEADER_REASON,
    HEADER_SOURCE_QUEUE,
    RETRY_QUEUE_REDECLARE_SECONDS,
    SETTLE_FAILURE_PAUSE_SECONDS,
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


def attempt_of(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(HEADER_ATTEMPT, 1)
    return value if isinstance(value, int) and value >= 1 else 1


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
        self.prefetch = prefetch
        self.deliver_timeout = deliver_timeout
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._retry_declared: dict[int, float] = {}
        self.bound_keys: frozenset[str] = frozenset()
        broker.add_setup(self.setup)

    async def setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(
            lambda *_: self.broker.connection_lost("consumer channel closed")
        )
        # A queue deleted under a running consumer cancels it without closing anything;
        # start over so the topology is declared again and consuming resumes.
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(
            lambda _: self.broker.connection_lost("consumer cancelled by the broker")
        )
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await declare_exchange(channel, self.exchange_name)
        self.bound_keys = self.adapter.routing_keys()
        binding = AdapterBinding(self.queues, self.bound_keys)
        queue = await declare_adapter(channel, exchange, binding)
        self._retry_declared.clear()
        # Strong references for the life of the connection.
        self._connection, self._channel, self._queue = connection, channel, queue
        self._tag = await queue.consume(self._on_message, no_ack=False)
        log.info(
            "consumer.started",
            adapter=self.adapter.name,
            queue=self.queues.work,
            routing_keys=sorted(self.bound_keys),
            prefetch=self.prefetch,
        )

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        channel = self._channel
        if channel is None:
            return
        task = asyncio.create_task(self._handle(message, channel))
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

    async def _handle(self, message: AbstractIncomingMessage, channel: AbstractChannel) -> None:
        try:
            await self._process(message, channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "consumer.settle_failed", adapter=self.adapter.name, message_id=message.message_id
            )
            await asyncio.sleep(SETTLE_FAILURE_PAUSE_SECONDS)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)

    async def _process(self, message: AbstractIncomingMessage, channel: AbstractChannel) -> None:
        attempt = attempt_of(message)
        try:
            envelope = parse_envelope(message)
        except ValueError as exc:
            reason = f"invalid envelope: {exc}"
            if await self._dead_letter(channel, message, None, reason, attempt, Dead(reason)):
                metrics.DELIVERIES.labels(adapter=self.adapter.name, outcome="invalid").inc()
                log.error(
                    "delivery",
                    outcome="invalid",
                    adapter=self.adapter.name,
                    message_id=message.message_id,
                    attempt=attempt,
                    reason=reason,
                )
            return
        started = time.perf_counter()
        delivery = Delivery(
            envelope, attempt, dict(message.headers or {}), bool(message.redelivered)
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
        await self._settle(channel, message, envelope, attempt, outcome, elapsed)

    async def _settle(
        self,
        channel: AbstractChannel,
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
            delay = outcome.delay
            if delay is None or not math.isfinite(delay) or delay < 0:
                delay = policy.delay_for(attempt)
            delay_ms = quantize_delay_ms(delay)
            if await self._to_retry(channel, message, envelope, attempt, outcome, delay_ms):
                self._record(outcome, {**fields, "error": outcome.error, "retry_in_ms": delay_ms})
        elif await self._dead_letter(channel, message, envelope, outcome.reason, attempt, outcome):
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

    async def _give_back(self, message: AbstractIncomingMessage) -> None:
        """The outcome could not be made safe: the broker hands the message out again."""
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
        return aio_pika.Message(
            message.body,
            headers={**(message.headers or {}), **extra, **headers},
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            # Unique per copy: aiormq pairs returns with publishes by message_id.
            message_id=f"{base}:{kind}:{uuid.uuid4().hex[:12]}",
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
        )

    async def _publish(
        self, channel: AbstractChannel, message: aio_pika.Message, queue: str
    ) -> bool:
        """Publish to ``queue`` through the default exchange and wait for the confirm. Only on
        the channel the original came from: an ack cannot cross to a new channel anyway."""
        if channel.is_closed:
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
        self,
        channel: AbstractChannel,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        attempt: int,
        outcome: Retry,
        delay_ms: int,
    ) -> bool:
        headers: dict[str, Any] = {
            HEADER_ATTEMPT: attempt + 1,
            HEADER_LAST_ERROR: outcome.error[:MAX_ERROR_CHARS],
        }
        if outcome.status is not None:
            headers[HEADER_LAST_STATUS] = outcome.status
        copy = self._copy(message, envelope.id, f"retry{attempt + 1}", headers)
        for _ in range(2):  # a second time only if the queue expired between declare and publish
            if await self._ensure_retry_queue(delay_ms) and await self._publish(
                channel, copy, self.queues.retry(delay_ms)
            ):
                await self._ack(message)
                return True
            self._retry_declared.pop(delay_ms, None)
        if channel.is_closed:
            return False  # unacked on a dead channel: the broker redelivers it
        await self._give_back(message)
        return False

    async def _ensure_retry_queue(self, delay_ms: int) -> bool:
        """Declare the retry queue for ``delay_ms`` unless done lately. On a channel of its own:
        a refused declaration closes that channel only, never the consumer's."""
        declared = self._retry_declared.get(delay_ms)
        now = time.monotonic()
        if declared is not None and now - declared < RETRY_QUEUE_REDECLARE_SECONDS:
            return True
        connection = self._connection
        if connection is None or connection.is_closed:
            return False
        channel: AbstractChannel | None = None
        try:
            channel = await connection.channel(publisher_confirms=False)
            await declare_retry_queue(channel, self.queues, delay_ms)
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            # The queue exists with other arguments (declared by another version); it still
            # dead-letters back to the work queue, so use it as it is.
            log.warning(
                "consumer.retry_queue_differs", queue=self.queues.retry(delay_ms), error=str(exc)
            )
        except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            log.warning("consumer.retry_queue_failed", delay_ms=delay_ms, error=str(exc))
            return False
        finally:
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()
        self._retry_declared[delay_ms] = now
        return True

    async def _dead_letter(
        self,
        channel: AbstractChannel,
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
        copy = self._copy(message, envelope.id if envelope else None, "dead", headers)
        if await self._publish(channel, copy, self.queues.dlq):
            await self._ack(message)
            return True
        if not channel.is_closed:
            await self._give_back(message)
        return False
