"""Operator events: what happened to an endpoint, told to the errors webhook
(``WEBHOOK_EVENTS_ERRORS_WEBHOOK``) as a delivery of its own, retried like any other.

They are put in the errors reporter's work queue, confirmed, marked so the reporter posts
them as they are. Without an errors webhook they are logged only.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import aiormq

from router.amqp import codec
from router.amqp.broker import Broker
from router.amqp.headers import OPERATOR_EVENT
from router.amqp.topology import AdapterQueues
from router.logging import get_logger
from schemas import Envelope, build_envelope

log = get_logger("router.notices")

ENDPOINT_DISABLED: Final = "router.endpoint.disabled"
ENDPOINT_RECOVERED: Final = "router.endpoint.recovered"
ATTEMPT_EXHAUSTED: Final = "router.attempt.exhausted"
ERRORS_REPORTER: Final = "webhook-errors"  # the adapter that posts to the errors webhook
NAMESPACE: Final = uuid.UUID("0b6f0f0e-9a43-4c1b-8f57-3d1d7f4a6e21")


def notice(kind: str, instance: str, key: str, **fields: Any) -> Envelope:
    """An operator event, as an envelope (it travels as events do); the same ``key`` (what
    it is about, and when) gives the same id, so receivers can de-duplicate."""
    return build_envelope(
        instance,
        kind,
        fields,
        id=str(uuid.uuid5(NAMESPACE, f"{kind}|{key}")),
        uncatalogued=True,
    )


class Notices:
    def __init__(self, broker: Broker, exchange: str, *, enabled: bool) -> None:
        self.broker = broker
        self.queue = AdapterQueues.for_role(exchange, ERRORS_REPORTER).work
        self.enabled = enabled  # an errors webhook is configured

    async def send(self, event: Envelope) -> bool:
        """True once the errors reporter's queue holds it; logged either way."""
        log.warning(
            "operator.event", type=event.event, id=event.id, instance=event.instance, **event.data
        )
        if not self.enabled:
            return False
        message = codec.encode(event, {OPERATOR_EVENT: event.event})
        try:
            channel = await self.broker.connection.channel(publisher_confirms=True)
            try:
                result = await channel.default_exchange.publish(message, self.queue, mandatory=True)
            finally:
                await channel.close()
        except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            log.error("operator.event_not_sent", id=event.id, error=str(exc))
            return False
        if isinstance(result, aiormq.abc.DeliveredMessage):
            log.error("operator.event_not_sent", id=event.id, error=f"{self.queue} is missing")
            return False
        return True
