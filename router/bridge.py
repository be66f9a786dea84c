"""The ``bridge`` role: Evolution API's RabbitMQ output, taken in as events.

Evolution publishes without confirms or properties, keyed by the wire name alone, to its global
exchange (``RABBITMQ_EXCHANGE_NAME``) and, in per-instance mode, to a topic exchange named after
each instance. The bridge binds a quorum queue of its own on that broker to every such exchange
(``#``) and turns each message into an envelope on the router's exchange, acking the message
only after the router's broker confirmed the envelope. The id is derived from the body, as on
Evolution's webhook path, so a message delivered again is the same event.

A body that is not an Evolution event goes to ``<queue>.dlq`` with the reason. A message the
router's broker keeps refusing is dead-lettered there by the broker after
``BRIDGE_DELIVERY_LIMIT`` deliveries; while the router's broker is away the bridge waits for it
with the messages in hand instead of handing them back, so none is counted down for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aiohttp import web

from router.amqp.broker import Broker, BrokerUnavailable, parse_uris
from router.amqp.headers import REASON
from router.amqp.publisher import Published, Publisher
from router.amqp.topology import DLQ_ARGUMENTS, QUORUM, SAFE_DEAD_LETTERING, apart
from router.config.settings import Settings
from router.config.store import ConfigStore
from router.delivery.livecfg import LiveConfig
from router.http.appkeys import PUBLISHER
from router.http.evolution_webhook import Unusable, to_envelope
from router.http.requests import Refused
from router.logging import get_logger
from router.media import claimed, cut_media, open_media_store

log = get_logger("router.bridge")

BRIDGE_DELIVERY_LIMIT = 20
# How long a message waits in hand for the router's broker before it is handed back.
WAIT_FOR_ROUTER_SECONDS = 30.0


LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def same_broker(first: str, second: str) -> bool:
    """Whether two AMQP URIs (or comma-separated lists of them) may name the same broker and
    virtual host: by host, port (by scheme when not given) and vhost, loopback names alike."""

    def where(uri: str) -> tuple[str, int, str]:
        parts = urlsplit(uri)
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        host = parts.hostname or "localhost"
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        return ("loopback" if host in LOOPBACK else host, port, vhost)

    return bool({where(u) for u in parse_uris(first)} & {where(u) for u in parse_uris(second)})


def exchange_problem(name: str, own_exchange: str | None) -> str | None:
    """Why an instance's exchange cannot be read, or None. RabbitMQ refuses names over 127
    bytes here and names under ``amq.``; the router's own exchanges would feed it its own
    events (or its dead letters) again."""
    if len(name.encode()) > 127:
        return "its name is over 127 bytes, RabbitMQ's limit for an exchange name here"
    if name.startswith("amq."):
        return "names under amq. are RabbitMQ's own"
    if own_exchange is not None and (name == own_exchange or name.startswith(own_exchange + ".")):
        return f"it is one of the router's own exchanges ({own_exchange}...)"
    return None


@dataclass(frozen=True, slots=True)
class BridgeSource:
    """Where the bridge reads: a broker, Evolution's exchanges on it, and the bridge's queue."""

    uris: tuple[str, ...]
    exchanges: tuple[str, ...]
    queue: str

    @property
    def dlq(self) -> str:
        return f"{self.queue}.dlq"

    def queue_arguments(self) -> dict[str, Any]:
        return {
            **QUORUM,
            **SAFE_DEAD_LETTERING,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dlq,
            "x-delivery-limit": BRIDGE_DELIVERY_LIMIT,
        }


def bridge_source(settings: Settings, instances: list[str]) -> BridgeSource:
    """The source the settings describe; ``ValueError`` when it is the router's own exchange,
    which would take every event in again, for ever."""
    bridge, rabbit = settings.bridge, settings.rabbitmq
    own = rabbit.uri.get_secret_value()
    uris = parse_uris(bridge.uri.get_secret_value() or own)
    names = [bridge.exchange_name] if bridge.global_enabled else []
    names += [name for name in dict.fromkeys(instances) if name not in names]
    # An instance's exchange of that name is skipped when bound (``exchange_problem``).
    if (
        names[:1] == [rabbit.exchange_name]
        and bridge.global_enabled
        and same_broker(",".join(uris), own)
    ):
        raise ValueError(
            f"the bridge would read the router's own exchange {rabbit.exchange_name!r}: give "
            "Evolution and the router different exchanges (Evolution's RABBITMQ_EXCHANGE_NAME "
            "is BRIDGE_EXCHANGE_NAME here; the router's own is RABBITMQ_EXCHANGE_NAME)"
        )
    return BridgeSource(uris, tuple(names), bridge.queue or f"{rabbit.exchange_name}.bridge")


class Bridge:
    """Consumes the bridge's queue and publishes each event with the router's publisher."""

    def __init__(self, settings: Settings, publisher: Publisher, store: ConfigStore) -> None:
        self.settings = settings
        self.publisher = publisher
        self.store = store
        self.source = bridge_source(settings, settings.bridge.instance_list())
        self.broker = Broker(self.source.uris, name=f"{settings.server.name}-bridge")
        # On the router's own broker, the router's exchanges are never read as an instance's.
        own = settings.rabbitmq
        shared = same_broker(",".join(self.source.uris), own.uri.get_secret_value())
        self.own_exchange = own.exchange_name if shared else None
        self.broker.add_setup(self._setup)
        self._channels: tuple[AbstractChannel, AbstractChannel] | None = None
        self.bound: set[str] = set()  # exchanges bound on the current connection
        self.media = open_media_store(settings.router)
        self._unblocked = asyncio.Event()
        self._unblocked.set()
        publisher.broker.on_block(self._router_block_changed)

    def _router_block_changed(self, reason: str | None) -> None:
        if reason is None:
            self._unblocked.set()
        else:
            self._unblocked.clear()

    async def _setup(self, connection: AbstractConnection) -> None:
        # Instances configured through the API are looked up on every connection.
        stored = [config.instance for config in await self.store.all()]
        source = bridge_source(self.settings, [*self.settings.bridge.instance_list(), *stored])
        self.source = source
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=self.settings.bridge.prefetch)
        keeping = await connection.channel(publisher_confirms=True)
        for channel in (consuming, keeping):
            channel.close_callbacks.add(
                lambda *_: self.broker.connection_lost("bridge channel closed", connection)
            )
        await consuming.declare_queue(source.dlq, durable=True, arguments=DLQ_ARGUMENTS)
        queue = await consuming.declare_queue(
            source.queue, durable=True, arguments=source.queue_arguments()
        )
        self.bound = set()
        self._channels = (consuming, keeping)
        for name in source.exchanges:
            await self._bind(name)
        await queue.consume(self._on_message)
        log.info("bridge.consuming", queue=source.queue, exchanges=list(source.exchanges))

    async def _bind(self, name: str) -> None:
        """Bind the bridge's queue to ``name``, declared as Evolution declares it, so whichever
        starts first both agree; on a scratch channel, so a refusal is logged and the other
        exchanges are read all the same."""
        assert self._channels is not None
        problem = exchange_problem(name, self.own_exchange)
        if name != self.settings.bridge.exchange_name and problem is not None:
            if name not in self.bound:
                log.warning("bridge.exchange_skipped", exchange=name, reason=problem)
            return
        queue = self.source.queue

        async def bind(channel: aiormq.abc.AbstractChannel) -> None:
            await channel.exchange_declare(name, exchange_type="topic", durable=True)
            await channel.queue_bind(queue, name, routing_key="#")

        refused = await apart(self._channels[0], bind)
        if refused is not None:
            log.warning("bridge.exchange_refused", exchange=name, reason=str(refused))
        self.bound.add(name)

    async def follow(self, instance: str | None) -> None:
        """After a configuration change: read the exchanges of instances added since the
        connection was made (Evolution publishes without ``mandatory``, so a message to an
        exchange nobody reads is gone)."""
        if self._channels is None or not self.broker.ready:
            return  # the next connection binds everything
        names = (
            [config.instance for config in await self.store.all()]
            if instance is None
            else [instance]
        )
        for name in names:
            if name not in self.bound:
                await self._bind(name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        limits = self.settings.router
        cut = cut_media(message.body, limits.media_claim_bytes)
        try:
            envelope = to_envelope(
                orjson.loads(cut.text), message.body, self.settings.server.url or None
            )
        except (orjson.JSONDecodeError, Unusable) as exc:
            reason = exc.message if isinstance(exc, Refused) else f"not JSON: {exc}"
            await self._keep(message, reason)
            return
        envelope = await claimed(envelope, cut, limits.media_claim_bytes, self.media)
        del cut
        while True:
            result: Published | BaseException
            try:
                await self.publisher.broker.wait_ready(WAIT_FOR_ROUTER_SECONDS)
                await asyncio.wait_for(self._unblocked.wait(), WAIT_FOR_ROUTER_SECONDS)
                (result,) = await self.publisher.publish_envelopes([envelope])
            except (TimeoutError, BrokerUnavailable) as exc:
                result = exc
            if isinstance(result, Published):
                await message.ack()
                return
            log.warning(
                "bridge.publish_failed",
                event_id=envelope.id,
                instance=envelope.instance,
                _event=envelope.event,
                error=str(result),
            )
            if self.waiting_for_router():
                continue  # away or blocking publishers: wait with the message in hand
            # Refused while connected and unblocked (a nack, no confirm in time): handed back,
            # counted towards the delivery limit.
            await message.nack(requeue=True)
            return

    def waiting_for_router(self) -> bool:
        broker = self.publisher.broker
        return not broker.ready or broker.blocked is not None

    async def _keep(self, message: AbstractIncomingMessage, reason: str) -> None:
        assert self._channels is not None
        kept = aio_pika.Message(
            message.body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={REASON: reason, "x-router-exchange": message.exchange or ""},
        )
        result = await self._channels[1].default_exchange.publish(
            kept, self.source.dlq, mandatory=True
        )
        if isinstance(result, aiormq.abc.DeliveredMessage):  # returned: the DLQ is gone
            self.broker.connection_lost(f"{self.source.dlq} is missing", None)
            await message.nack(requeue=True)
            return
        await message.ack()
        log.warning("bridge.kept", queue=self.source.dlq, reason=reason)


BRIDGE = web.AppKey("bridge", Bridge)


async def bridge_lifetime(app: web.Application) -> AsyncIterator[None]:
    bridge = app[BRIDGE]
    await bridge.broker.start()
    yield
    with contextlib.suppress(Exception):
        await bridge.broker.close()


def install(app: web.Application, settings: Settings, store: ConfigStore, live: LiveConfig) -> None:
    app[BRIDGE] = Bridge(settings, app[PUBLISHER], store)
    live.followers.append(app[BRIDGE].follow)
    app.cleanup_ctx.append(bridge_lifetime)


__all__ = ["BRIDGE", "Bridge", "BridgeSource", "bridge_source", "install", "same_broker"]
