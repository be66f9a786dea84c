"""Publishing envelopes to the exchange with publisher confirms.

A publish returns only once RabbitMQ confirmed it. The events of a call are written to the
channel as one burst (``router.amqp.burst``) and their confirms awaited together, so a batch
costs about one round trip and one write, not one per event.

While RabbitMQ blocks publishers nothing is published: the caller is refused at once. A publish
already on its way when the block began, or whose confirm does not come within ``timeout``, is
answered as unconfirmed with its id, and followed until its confirm comes, so a resend of that
id is answered from the ledger instead of being published again (``router.amqp.ledger``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from router.amqp.broker import Broker, BrokerBlocked, BrokerUnavailable
from router.amqp.burst import Confirmation, publish_burst
from router.amqp.codec import APP_ID, outgoing_of
from router.amqp.headers import REASON
from router.amqp.ledger import Confirm, Ledger
from router.amqp.topology import Topology, declare, ingest_dlq_name
from schemas import Envelope, build_envelope

T = TypeVar("T")
# How long a publish answered as unconfirmed is still followed for its confirm.
CONFIRM_FOLLOW_SECONDS = 120.0
NEVER_CONFIRMED = "RabbitMQ never confirmed the publish"
# What a publish can fail with (a nack is an AMQPError), each answered as ``PublishFailed``.
PUBLISH_ERRORS = (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError)


class PublishFailed(BrokerUnavailable):
    """RabbitMQ did not confirm the publish (nack, timeout or a lost channel). The event may
    or may not have reached the exchange; publishing it again with the same id (``event_id``)
    is safe, and with a new id it is not."""

    def __init__(self, message: str, event_id: str | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class Published:
    envelope: Envelope
    routed: bool  # False when no queue was bound to the routing key
    again: bool = False  # confirmed before, under the same id: not published this time


class Publisher:
    """Confirmed publishing of envelopes; embed it, or let the ingest app use it.

    >>> async with Publisher.connect("amqp://guest:guest@localhost/") as publisher:
    ...     envelope = await publisher.publish("my-instance", "messages.upsert", {"key": {}})
    """

    def __init__(
        self,
        broker: Broker,
        topology: Topology | Callable[[], Topology],
        *,
        timeout: float = 10.0,
        server_url: str | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.broker = broker
        # A callable is asked again on every connection: per-instance configuration can
        # change what the topology holds while the process runs.
        self._topology = topology
        self.timeout = timeout
        self.server_url = server_url
        self.ledger = ledger or Ledger(window=300.0, max_ids=50_000)
        self._channel: AbstractChannel | None = None
        self._burst_channel: aiormq.Channel | None = None
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._blocked_signal: asyncio.Future[None] | None = None
        broker.on_block(self._block_changed)

    def _block_changed(self, reason: str | None) -> None:
        signal = self._blocked_signal
        if reason is not None and signal is not None and not signal.done():
            signal.set_result(None)  # publishes waiting for a confirm are answered now
        if reason is None:
            self._blocked_signal = None

    def _blocked(self) -> asyncio.Future[None]:
        """Done once RabbitMQ blocks publishers."""
        if self._blocked_signal is None:
            self._blocked_signal = asyncio.get_running_loop().create_future()
            if self.broker.blocked is not None:
                self._blocked_signal.set_result(None)
        return self._blocked_signal

    async def setup(self, connection: AbstractConnection) -> None:
        """A connection's first step: its channel, and the whole topology declared."""
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(
            lambda *_: self.broker.connection_lost("publisher channel closed", connection)
        )
        self._exchange = await declare(channel, self.topology, passive=self.broker.provisioned)
        # Held strongly for the life of the connection.
        self._channel, self._connection = channel, connection
        underlay = await channel.get_underlay_channel()
        assert isinstance(underlay, aiormq.Channel)
        self._burst_channel = underlay

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str,
        exchange: str = "evolution_exchange",
        *,
        timeout: float = 10.0,
        server_url: str | None = None,
        wait: float | None = 30.0,
    ) -> AsyncIterator[Publisher]:
        """A stand-alone publisher with its own connection, for applications that embed it."""
        broker = Broker(url, name="router-publisher")
        publisher = cls(broker, Topology(exchange=exchange), timeout=timeout, server_url=server_url)
        broker.add_setup(publisher.setup)
        await broker.start()
        try:
            if wait is not None:
                await broker.wait_ready(wait)
            yield publisher
        finally:
            await broker.close()

    @property
    def topology(self) -> Topology:
        return self._topology() if callable(self._topology) else self._topology

    @property
    def ready(self) -> bool:
        return self.broker.ready and self._exchange is not None

    async def publish(
        self,
        instance: str,
        event: str,
        data: Any = None,
        *,
        id: str | None = None,
        sender: str | None = None,
        apikey: str | None = None,
    ) -> Envelope:
        """Validate, publish and wait for the confirm; raises on refusal or broker trouble."""
        envelope = build_envelope(
            instance, event, data, id=id, sender=sender, server_url=self.server_url, apikey=apikey
        )
        await self.publish_envelope(envelope)
        return envelope

    async def publish_envelope(self, envelope: Envelope) -> Published:
        (result,) = await self.publish_envelopes([envelope])
        if isinstance(result, BaseException):
            raise result
        return result

    async def publish_envelopes(
        self, envelopes: Sequence[Envelope], bodies: Sequence[bytes] | None = None
    ) -> list[Published | PublishFailed]:
        """Publish all at once and await every confirm concurrently; the result keeps the order
        of the input, each entry either confirmed or the reason it was not. Raises when the
        broker is unreachable, or when it blocks publishers and a single event was given."""
        channel, connection, exchange = self._burst_channel, self._connection, self._exchange
        ready = self.broker.ready and exchange is not None and channel is not None
        blocked = self.broker.blocked
        results: list[Published | PublishFailed | Confirm] = []
        sending: list[tuple[Envelope, bytes | None, Confirm]] = []
        for i, envelope in enumerate(envelopes):
            key = (envelope.id, envelope.routing_key)
            if self.ledger.confirmed(key):
                results.append(Published(envelope, routed=True, again=True))
                continue
            pending = self.ledger.pending(key)  # a resend, or the same event twice in a batch
            if pending is None and not ready:
                raise BrokerUnavailable("not connected to RabbitMQ")
            if pending is None and blocked is not None:
                refusal = f"RabbitMQ blocks publishers ({blocked})"
                if len(envelopes) == 1:
                    raise BrokerBlocked(refusal)
                results.append(PublishFailed(refusal, envelope.id))
                continue
            if pending is None:
                pending = asyncio.get_running_loop().create_future()
                self.ledger.track(key, pending)
                sending.append((envelope, None if bodies is None else bodies[i], pending))
            results.append(pending)
        if sending:
            assert channel is not None
            assert exchange is not None
            await self._send(channel, exchange.name, connection, sending)
        waiting = [r for r in results if isinstance(r, asyncio.Future)]
        if waiting:
            await self._await_confirms(waiting)
        return [self._result(e, r) for e, r in zip(envelopes, results, strict=True)]

    async def _send(
        self,
        channel: aiormq.Channel,
        exchange: str,
        connection: AbstractConnection | None,
        sending: list[tuple[Envelope, bytes | None, Confirm]],
    ) -> None:
        """One burst; each outcome settles when its confirm comes, however long after the
        caller stopped waiting (``CONFIRM_FOLLOW_SECONDS``), so the ledger learns it."""
        outgoing = [outgoing_of(envelope, body) for envelope, body, _ in sending]
        try:
            confirmations = await publish_burst(channel, exchange, outgoing)
        except BaseException as exc:
            failure = (
                self._failure(exc, connection, NEVER_CONFIRMED)
                if isinstance(exc, PUBLISH_ERRORS)
                else PublishFailed(f"connection to RabbitMQ lost: {exc}")
            )
            for _, _, outcome in sending:
                outcome.set_exception(failure)
            if isinstance(exc, Exception):
                return
            raise
        follow = asyncio.get_running_loop().call_later(
            max(CONFIRM_FOLLOW_SECONDS, self.timeout), _give_up, confirmations
        )
        left = len(confirmations)

        def settled(envelope: Envelope, outcome: Confirm, confirmation: Confirmation) -> None:
            nonlocal left
            self._settle(envelope, outcome, confirmation, connection)
            left -= 1
            if not left:
                follow.cancel()

        for (envelope, _, outcome), confirmation in zip(sending, confirmations, strict=True):
            confirmation.add_done_callback(functools.partial(settled, envelope, outcome))

    def _settle(
        self,
        envelope: Envelope,
        outcome: Confirm,
        confirmation: Confirmation,
        connection: AbstractConnection | None,
    ) -> None:
        """What a publish came to: True routed, False unroutable, or ``PublishFailed``."""
        if outcome.done():
            return
        if confirmation.cancelled():
            outcome.set_exception(PublishFailed(NEVER_CONFIRMED))
            return
        error = confirmation.exception()
        if error is not None:
            outcome.set_exception(self._failure(error, connection, NEVER_CONFIRMED))
        elif not isinstance(confirmation.result(), aiormq.abc.DeliveredMessage):
            outcome.set_result(True)
        elif self.topology.routes(envelope.routing_key):
            # A queue this process declared is gone (deleted by hand, or lost with a node):
            # the event is stored nowhere, so refuse it and declare everything again.
            self.broker.connection_lost(f"no queue took {envelope.routing_key}", connection)
            outcome.set_exception(
                PublishFailed(f"the queues for {envelope.routing_key} are missing; re-declaring")
            )
        else:
            outcome.set_result(False)

    async def keep(self, body: bytes, reason: str, headers: dict[str, Any]) -> None:
        """Put what a producer sent, unusable as an event, in the ingest dead-letter queue
        with the reason, confirmed; raises like a publish when RabbitMQ does not take it."""
        channel, connection = self._channel, self._connection
        if not self.ready or channel is None:
            raise BrokerUnavailable("not connected to RabbitMQ")
        if self.broker.blocked is not None:
            raise BrokerBlocked(f"RabbitMQ blocks publishers ({self.broker.blocked})")
        message = aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=datetime.now(UTC),
            app_id=APP_ID,
            headers={**headers, REASON: reason},
        )
        queue = ingest_dlq_name(self.topology.exchange)
        result = await self._confirmed(
            channel.default_exchange.publish(message, queue, mandatory=True, timeout=self.timeout),
            connection,
            "RabbitMQ did not confirm in time",
        )
        if isinstance(result, aiormq.abc.DeliveredMessage):
            self.broker.connection_lost(f"{queue} is missing", connection)
            raise PublishFailed(f"{queue} is missing; re-declaring")

    async def _confirmed(
        self,
        publishing: Awaitable[T],
        connection: AbstractConnection | None,
        unconfirmed: str,
    ) -> T:
        """The outcome of a confirmed publish; each way it can fail as ``PublishFailed``, a
        lost connection reported to the broker."""
        try:
            return await publishing
        except PUBLISH_ERRORS as exc:
            raise self._failure(exc, connection, unconfirmed) from exc

    def _failure(
        self, error: BaseException, connection: AbstractConnection | None, unconfirmed: str
    ) -> PublishFailed:
        """A publish's error as ``PublishFailed``: no confirm in time, a nack, or a lost
        connection, which is reported to the broker."""
        if isinstance(error, TimeoutError):
            return PublishFailed(unconfirmed)
        if isinstance(error, aiormq.exceptions.DeliveryError):
            return PublishFailed("RabbitMQ refused the publish (nack)")
        self.broker.connection_lost(error, connection)
        return PublishFailed(f"connection to RabbitMQ lost: {error}")

    async def _await_confirms(self, confirms: list[asyncio.Future[bool]]) -> None:
        """Wait until every confirm came, the timeout passed, or RabbitMQ blocks publishers;
        never cancels a publish, which goes on and is recorded when its confirm comes."""
        every = (
            confirms[0] if len(confirms) == 1 else asyncio.gather(*confirms, return_exceptions=True)
        )
        blocked = self._blocked()
        await asyncio.wait(
            (every, blocked), timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )

    def _result(
        self, envelope: Envelope, result: Published | PublishFailed | asyncio.Future[bool]
    ) -> Published | PublishFailed:
        if not isinstance(result, asyncio.Future):
            return result
        if not result.done():
            why = (
                f"RabbitMQ started blocking publishers ({self.broker.blocked})"
                if self.broker.blocked is not None
                else f"no confirm from RabbitMQ within {self.timeout:g}s"
            )
            return PublishFailed(f"{why}; it may still be published", envelope.id)
        if result.cancelled():
            return PublishFailed("the publish was cancelled", envelope.id)
        error = result.exception()
        if error is not None:
            text = (
                str(error)
                if isinstance(error, PublishFailed)
                else f"{type(error).__name__}: {error}"
            )
            return PublishFailed(text, envelope.id)
        return Published(envelope, routed=result.result())


def _give_up(confirmations: list[Confirmation]) -> None:
    for confirmation in confirmations:
        confirmation.cancel()  # a no-op on those already settled
