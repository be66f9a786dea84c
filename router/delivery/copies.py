"""Storing the copy a settlement needs before the original is acked: a retry copy in the delay
queue of its delay, a dead letter through the dead-letter exchange. Each is published with
``mandatory`` and confirmed, on the channel the original came from, or an ack could be lost
across a reconnect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractMessage

from router.amqp.broker import Broker
from router.amqp.headers import EVENT_ID
from router.amqp.topology import AdapterQueues
from router.delivery.parking import Finish, Park, Settlement
from router.delivery.retryqueues import declare_delay_queue
from router.logging import get_logger

log = get_logger("router.delivery")
PUBLISH_FAILURES = (
    TimeoutError,
    aiormq.exceptions.AMQPError,
    aio_pika.exceptions.DeliveryError,
    ConnectionError,
    RuntimeError,
)


@dataclass(frozen=True, slots=True)
class Link:
    """The connection and channel a message came on, and the dead-letter exchange on that
    channel: copies and the ack must use the same channel."""

    connection: AbstractConnection
    channel: AbstractChannel
    dead: AbstractExchange


def copy_of(
    message: AbstractMessage, event_id: str | None, kind: str, headers: dict[str, Any]
) -> aio_pika.Message:
    """A persistent copy of ``message`` with ``headers`` over its own (None removes one)."""
    base = event_id or message.message_id or "unknown"
    extra = {EVENT_ID: event_id} if event_id else {}
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


class Copies:
    """The copies of one work queue's messages."""

    def __init__(self, broker: Broker, queues: AdapterQueues) -> None:
        self.broker = broker
        self.queues = queues
        # Delay queues declared on the current connection; they are permanent, so once is enough.
        self._delay_queues: set[int] = set()

    def reset(self) -> None:
        """A new connection: its delay queues are declared again on first use."""
        self._delay_queues.clear()

    async def store(
        self, link: Link, message: AbstractMessage, event_id: str | None, settlement: Settlement
    ) -> bool:
        """Store the copy ``settlement`` needs; True once it is safe to ack the original."""
        if isinstance(settlement, Finish):
            return True
        if isinstance(settlement, Park):
            copy = copy_of(message, event_id, "retry", settlement.headers)
            return await self._to_retry(link, copy, settlement.delay_ms)
        # Through the dead-letter exchange: the role's DLQ, and the errors webhook if on.
        copy = copy_of(message, event_id, "dead", settlement.headers)
        return await self._publish(link, copy, self.queues.role, dead=True)

    async def _publish(
        self, link: Link, message: aio_pika.Message, routing_key: str, *, dead: bool = False
    ) -> bool:
        if link.channel.is_closed:
            return False
        exchange = link.dead if dead else link.channel.default_exchange
        try:
            result = await exchange.publish(message, routing_key, mandatory=True, timeout=30)
        except PUBLISH_FAILURES as exc:
            log.warning("consumer.publish_failed", routing_key=routing_key, error=str(exc))
            return False
        return not isinstance(result, aiormq.abc.DeliveredMessage)

    async def _to_retry(self, link: Link, copy: aio_pika.Message, delay_ms: int) -> bool:
        for _ in range(2):  # a second time only if the queue was deleted under us
            if await self._ensure_delay_queue(link, delay_ms) and await self._publish(
                link, copy, self.queues.delay(delay_ms)
            ):
                return True
            self._delay_queues.discard(delay_ms)
        return False

    async def _ensure_delay_queue(self, link: Link, delay_ms: int) -> bool:
        if delay_ms in self._delay_queues:
            return True
        if link.connection.is_closed:
            return False
        try:
            await declare_delay_queue(
                link.connection, self.queues, delay_ms, passive=self.broker.provisioned
            )
        except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            log.warning("consumer.delay_queue_failed", delay_ms=delay_ms, error=str(exc))
            return False
        self._delay_queues.add(delay_ms)
        return True
