"""Taking events from RabbitMQ to destinations: what an adapter is and answers (``adapter``,
``gateway``, ``registry``), the consumer loop (``consumer``) and what becomes of an answer
(``parking``, ``retryqueues``), dead letters (``dlq``), batching for batch APIs (``batcher``), and
applying configuration changes to running adapters (``livecfg``)."""

from router.delivery.adapter import (
    Adapter,
    Dead,
    Delivered,
    Delivery,
    Outcome,
    PerTarget,
    Retry,
    RetryPolicy,
    Routed,
    Skipped,
)
from router.delivery.consumer import Consumer
from router.delivery.gateway import Gateway

__all__ = [
    "Adapter",
    "Consumer",
    "Dead",
    "Delivered",
    "Delivery",
    "Gateway",
    "Outcome",
    "PerTarget",
    "Retry",
    "RetryPolicy",
    "Routed",
    "Skipped",
]
