"""A destination fed from a stream rather than a work queue.

Work queues hand each event to one consumer, once. A gateway (the WebSocket role) needs the
opposite: every process reads every event, as its clients may be connected to any of them, and
a client that comes back reads again what it missed. A RabbitMQ stream gives both; the gateway
serves its clients over HTTP routes of its own.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aiohttp import web

from router.amqp.broker import Broker
from router.amqp.topology import StreamBinding
from router.config.store.base import ConfigStore
from router.delivery.adapter import Routed


@runtime_checkable
class Gateway(Routed, Protocol):
    def stream(self, exchange: str) -> StreamBinding:
        """The stream this gateway reads, bound to ``routing_keys()``."""
        ...

    def install(
        self, app: web.Application, broker: Broker, store: ConfigStore, exchange: str
    ) -> None:
        """Add its routes to ``app`` and its set-up steps to ``broker``."""
        ...
