"""The errors webhook (``WEBHOOK_EVENTS_ERRORS``): a report of every event any adapter
dead-lettered (``router.attempt.exhausted``), and the operator events put in its queue
(``router.delivery.notices``), itself delivered with the webhook retries.

It consumes its own queue, bound on the dead-letter exchange to each adapter role, so it sees
a copy of everything that reaches a DLQ. Its own failures go to its own DLQ and are not
reported again.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from adapters.webhook.adapter import new_sender
from adapters.webhook.sender import Request
from adapters.webhook.signing import WebhookSecret
from router.amqp.headers import OPERATOR_EVENT, DeadLetterRecord
from router.amqp.topology import AdapterQueues
from router.config.settings import Settings
from router.delivery.adapter import Delivery, Feed, Outcome, RetryPolicy
from router.delivery.notices import ATTEMPT_EXHAUSTED
from router.roles import ADAPTER_ROLES
from schemas import utc_now

# Every destination role's dead letters (the ways in keep theirs in the ingest DLQ).
REPORTED_ROLES = ADAPTER_ROLES
REPORT_NAMESPACE = uuid.UUID("6f1c1d0e-3b8a-4f7e-9a55-2d7c0b8e4a11")


def source_role(source_queue: str | None) -> str | None:
    """The adapter role a dead letter came from, by its work queue."""
    try:
        return AdapterQueues.of_work(source_queue).role if source_queue else None
    except ValueError:
        return None


class ErrorsReporter:
    name = "webhook-errors"
    feed = Feed(dead_letters=True)  # it reads what the other roles dead-letter

    def __init__(self, settings: Settings, secrets: tuple[WebhookSecret, ...] = ()) -> None:
        self.url = settings.webhook.events_errors_webhook
        self.server_url = settings.server.url or None
        self.retry_policy = RetryPolicy.from_settings(settings.webhook)
        self.sender = new_sender(settings, self.retry_policy)
        self.secrets = secrets

    def routing_keys(self) -> frozenset[str]:
        return frozenset(REPORTED_ROLES)

    async def start(self) -> None:
        await self.sender.start()

    async def close(self) -> None:
        await self.sender.close()

    def report(self, delivery: Delivery) -> dict[str, Any]:
        envelope = delivery.envelope
        if delivery.headers.get(OPERATOR_EVENT):
            # An operator event (an endpoint disabled or recovered): posted as it is.
            return {
                "id": envelope.id,
                "type": envelope.event,
                "event": envelope.event,
                "instance": envelope.instance,
                **(envelope.data if isinstance(envelope.data, dict) else {}),
                "date_time": envelope.date_time,
                "server_url": self.server_url,
            }
        record = DeadLetterRecord.from_headers(delivery.headers)
        source = record.source_queue
        return {
            # The same dead letter always gets the same report id, so receivers can de-duplicate.
            "id": str(uuid.uuid5(REPORT_NAMESPACE, f"{envelope.id}|{source}|{record.target}")),
            "type": ATTEMPT_EXHAUSTED,
            "event": "error",
            "instance": envelope.instance,
            "event_id": envelope.id,
            "original_event": envelope.event,
            "adapter": source_role(source),
            "destination": record.destination,
            "reason": record.reason,
            "attempts": record.attempts,
            "last_status": record.last_status,
            "dead_at": record.dead_at,
            "date_time": utc_now(),
            "server_url": self.server_url,
        }

    async def deliver(self, delivery: Delivery) -> Outcome:
        report = self.report(delivery)
        request = Request(
            url=self.url,
            body=orjson.dumps(report),
            event_id=report["id"],
            headers={},
            secrets=self.secrets,
            operator=True,  # EVENTS_ERRORS_WEBHOOK, from the environment
        )
        return await self.sender.send(request, delivery.attempt)
