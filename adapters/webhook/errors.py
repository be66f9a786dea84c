"""The errors webhook (``WEBHOOK_EVENTS_ERRORS``): a report of every event any adapter
dead-lettered, itself delivered with the webhook retries.

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
from router.adapter import Delivery, Outcome, RetryPolicy
from router.constants import (
    HEADER_ATTEMPTS,
    HEADER_DEAD_AT,
    HEADER_DESTINATION,
    HEADER_LAST_STATUS,
    HEADER_REASON,
    HEADER_SOURCE_QUEUE,
    HEADER_TARGET,
)
from router.settings import Settings
from schemas import utc_now

REPORTED_ROLES = ("webhook", "sqs", "pusher", "websocket")
REPORT_NAMESPACE = uuid.UUID("6f1c1d0e-3b8a-4f7e-9a55-2d7c0b8e4a11")


def text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


class ErrorsReporter:
    name = "webhook-errors"
    dead_letters = True  # its queue is bound on the dead-letter exchange

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
        envelope, headers = delivery.envelope, delivery.headers
        source = text(headers.get(HEADER_SOURCE_QUEUE))
        attempts = headers.get(HEADER_ATTEMPTS)
        status = headers.get(HEADER_LAST_STATUS)
        return {
            # The same dead letter always gets the same report id, so receivers can de-duplicate.
            "id": str(
                uuid.uuid5(
                    REPORT_NAMESPACE, f"{envelope.id}|{source}|{text(headers.get(HEADER_TARGET))}"
                )
            ),
            "event": "error",
            "instance": envelope.instance,
            "event_id": envelope.id,
            "original_event": envelope.event,
            "adapter": source.rsplit(".", 1)[-1] if source else None,
            "destination": text(headers.get(HEADER_DESTINATION)),
            "reason": text(headers.get(HEADER_REASON)),
            "attempts": attempts if isinstance(attempts, int) else None,
            "last_status": status if isinstance(status, int) else None,
            "dead_at": text(headers.get(HEADER_DEAD_AT)),
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
        )
        return await self.sender.send(request, delivery.attempt)
