"""Configuration changes reach every replica within a second.

A change is stored first, then announced on ``<exchange>.config`` (a fanout exchange of its own,
so no binding on the event exchange can ever catch an announcement). Every process binds a
private queue to it; on an announcement, and on every (re)connection, it reloads from the store
what its adapters need and makes their queue bindings match, so the broker keeps filtering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

import aio_pika
import aiormq
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from router.amqp.broker import Broker, BrokerUnavailable
from router.amqp.topology import (
    QUORUM,
    AdapterQueues,
    apart,
    binding_changes,
    config_exchange_name,
    declare_exchange,
    instance_queue_names,
    rebind,
)
from router.config.store.base import ConfigStore
from router.delivery.adapter import Routed
from router.delivery.consumer import Consumer
from router.logging import get_logger
from schemas import InvalidInstanceError, validate_instance

log = get_logger("router.config")
# How long stopping waits for a change being applied: it needs the connection that stopping
# closes next, and a change cut off half-way would be reported as a failure.
CLOSE_WAIT_SECONDS = 5.0


@runtime_checkable
class Configurable(Protocol):
    """An adapter whose work depends on per-instance configuration."""

    async def reload(self, store: ConfigStore, instance: str | None) -> None:
        """Load one instance's configuration, or everything when ``instance`` is None."""
        ...


class LiveConfig:
    def __init__(
        self,
        broker: Broker,
        store: ConfigStore,
        exchange: str,
        adapters: Mapping[str, Routed],
        *,
        instance_queues: bool = True,
        resync_seconds: float = 30.0,
    ) -> None:
        self.broker = broker
        # RABBITMQ_ENABLED, Evolution's switch for every rabbitmq block: without it a stored
        # block declares nothing (Evolution refuses to set one at all).
        self.instance_queues = instance_queues
        self.store = store
        self.exchange = exchange
        self.adapters = {n: a for n, a in adapters.items() if isinstance(a, Configurable)}
        self.consumers: Mapping[str, Consumer] = {}
        self.resync_seconds = resync_seconds
        # Keys bound by this process on queues it does not consume from (the ingest role keeps
        # the webhook queue's bindings current while the webhook role is down).
        self._bound: dict[str, frozenset[str]] = {}
        # Per-instance downstream queues (the ``rabbitmq`` block) bound by this process.
        self._instance_keys: dict[str, frozenset[str]] = {}
        self._channel: AbstractChannel | None = None
        self._announcer: AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._resync: asyncio.Task[None] | None = None
        self._closing = False
        # Called after each change is applied (the bridge binds a new instance's exchange).
        self.followers: list[Callable[[str | None], Awaitable[None]]] = []

    def attach(self, consumers: Mapping[str, Consumer]) -> None:
        """The consumers whose bindings follow the configuration."""
        self.consumers = consumers

    async def load(self) -> None:
        """Everything, before the broker connects: consumers must not see an event before the
        subscriptions it belongs to are known."""
        for adapter in self.adapters.values():
            assert isinstance(adapter, Configurable)
            await adapter.reload(self.store, None)

    async def reload(self, _: AbstractConnection) -> None:
        """A connection step, before any consumer consumes."""
        # Announcements missed while disconnected: read everything again before consuming.
        # A failure here fails the connection attempt, which is retried with backoff.
        await self.load()

    async def start(self) -> None:
        if self._resync is None:
            self._resync = asyncio.create_task(self._resync_forever(), name="config-resync")

    async def close(self) -> None:
        """Before the connection closes: no new change is applied, and one under way ends."""
        self._closing = True
        task, self._resync = self._resync, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT_SECONDS), self._lock:
                pass

    async def _resync_forever(self) -> None:
        """A safety net for announcements that never came (one failed to publish): every
        replica compares with the store now and then."""
        while True:
            await asyncio.sleep(self.resync_seconds)
            if self.broker.ready:
                await self.apply(None)

    async def setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(
            lambda *_: self.broker.connection_lost("config channel closed", connection)
        )
        exchange = await channel.declare_exchange(
            config_exchange_name(self.exchange),
            aio_pika.ExchangeType.FANOUT,
            durable=True,
            passive=self.broker.provisioned,
        )
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(exchange)
        self._channel, self._announcer = channel, exchange
        await self.apply(None)
        await queue.consume(self._on_notice, no_ack=True)

    async def announce(self, instance: str) -> None:
        """Tell every replica (this one included) that ``instance`` changed."""
        exchange = self._announcer
        if exchange is None or not self.broker.ready:
            raise BrokerUnavailable("not connected to RabbitMQ")
        body = orjson.dumps({"instance": instance})
        try:
            await exchange.publish(
                aio_pika.Message(body, content_type="application/json"), "", timeout=10
            )
        except (TimeoutError, aio_pika.exceptions.AMQPException, RuntimeError) as exc:
            raise BrokerUnavailable(f"announcement not confirmed: {exc}") from exc

    async def _on_notice(self, message: AbstractIncomingMessage) -> None:
        if self._closing:
            return  # the next start reads everything from the store
        try:
            instance = validate_instance(str(orjson.loads(message.body)["instance"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, InvalidInstanceError):
            log.warning("config.bad_notice", body=message.body[:200].decode("utf-8", "replace"))
            return
        await self.apply(instance)

    async def apply(self, instance: str | None) -> None:
        async with self._lock:
            if self._closing:
                return
            for name, adapter in self.adapters.items():
                assert isinstance(adapter, Configurable)
                try:
                    await adapter.reload(self.store, instance)
                    await self._sync_bindings(name, adapter)
                except Exception:
                    # Never run on with stale subscriptions: start over, which reloads
                    # everything before consuming again.
                    log.exception("config.apply_failed", adapter=name, instance=instance)
                    self.broker.connection_lost("configuration could not be applied")
                    return
            try:
                if self.instance_queues:
                    await self._sync_instance_queues(instance)
            except Exception:
                log.exception("config.queues_failed", instance=instance)
            for follower in self.followers:
                try:
                    await follower(instance)
                except Exception:
                    log.exception("config.follower_failed", instance=instance)
            log.info("config.applied", instance=instance or "*")

    async def _sync_bindings(self, name: str, adapter: Routed) -> None:
        keys = adapter.routing_keys()
        consumer = self.consumers.get(name)
        if consumer is not None:
            await consumer.rebind(keys)
            return
        channel = self._channel
        if channel is None:
            return
        exchange = await declare_exchange(channel, self.exchange, passive=self.broker.provisioned)
        queue = await channel.declare_queue(
            AdapterQueues.for_role(self.exchange, name).work, passive=True
        )
        # A failed unbind closes the channel, which starts the connection over and reloads.
        await rebind(queue, exchange, self._bound.get(name, frozenset()), keys)
        self._bound[name] = keys

    async def _sync_instance_queues(self, instance: str | None) -> None:
        """An instance's ``rabbitmq`` block, as Evolution's per-instance mode: one durable quorum
        queue per chosen event, ``<instance>.<event>``, bound to that instance's events only.
        Queues are never deleted here (they may hold messages); a disabled event is unbound."""
        channel = self._channel
        if channel is None:
            return
        if instance is None:
            configs = await self.store.all()
            names = {c.instance for c in configs} | set(self._instance_keys)
            wanted = {c.instance: c for c in configs}
        else:
            config = await self.store.get(instance)
            names = {instance}
            wanted = {instance: config} if config else {}
        # The exchange first: the bindings below are made on channels of their own.
        await declare_exchange(channel, self.exchange, passive=self.broker.provisioned)
        for name in sorted(names):
            config = wanted.get(name)
            events = config.rabbitmq.wanted() if config else frozenset()
            keys = frozenset(instance_queue_names(name, events).values())
            to_bind, to_unbind = binding_changes(self._instance_keys.get(name, ()), keys)
            refused: set[str] = set()
            for key in to_bind:
                if not await self._instance_queue(channel, key, bound=True):
                    refused.add(key)  # tried again at the next resync
            for key in to_unbind:
                await self._instance_queue(channel, key, bound=False)
            self._instance_keys[name] = keys - refused

    async def _instance_queue(self, channel: AbstractChannel, key: str, *, bound: bool) -> bool:
        """Declare and bind (or unbind) ``key`` on a scratch channel: a refusal (permissions on
        a provisioned broker, a queue of that name with other arguments, one deleted by hand)
        is logged, and leaves this channel and the other instances' queues be. On a
        provisioned broker the queue is only checked, never created."""
        provisioned = self.broker.provisioned

        async def bind(ch: aiormq.abc.AbstractChannel) -> None:
            await ch.queue_declare(key, durable=True, arguments=QUORUM, passive=provisioned)
            await ch.queue_bind(key, self.exchange, routing_key=key)

        async def unbind(ch: aiormq.abc.AbstractChannel) -> None:
            await ch.queue_unbind(key, self.exchange, routing_key=key)

        refused = await apart(channel, bind if bound else unbind)
        if refused is not None:
            log.error(
                "config.instance_queue_refused",
                queue=key,
                action="bind" if bound else "unbind",
                error=str(refused),
                detail="provision this queue (quorum, durable) and grant write on it, or "
                "grant configure and write on it",
            )
        return refused is None
