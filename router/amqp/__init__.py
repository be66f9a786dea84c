"""RabbitMQ: the one connection each process keeps (``broker``), the names and shapes of what is
declared on it (``topology``), publishing with confirms (``publisher``, ``ledger``) and reading a
stream from the terminal (``tail``). Nothing here knows about adapters or HTTP."""

from router.amqp.broker import Broker, BrokerBlocked, BrokerUnavailable
from router.amqp.publisher import Published, Publisher, PublishFailed
from router.amqp.topology import AdapterQueues, Topology

__all__ = [
    "AdapterQueues",
    "Broker",
    "BrokerBlocked",
    "BrokerUnavailable",
    "PublishFailed",
    "Published",
    "Publisher",
    "Topology",
]
