"""One JSON line, and one count, per delivery outcome: what became of an event, where, on which
attempt, and why."""

from __future__ import annotations

from typing import Any

from router import metrics
from router.delivery.adapter import Dead, Skipped
from router.delivery.parking import Park, Settlement
from router.logging import get_logger, mask_url
from schemas import Envelope

log = get_logger("router.delivery")
LEVELS = {"delivered": "info", "skipped": "info", "retry": "warning"}


def report(
    adapter: str,
    settlement: Settlement,
    envelope: Envelope,
    attempt: int,
    target: str | None,
    elapsed: float,
) -> None:
    outcome = settlement.outcome
    name = type(outcome).__name__.lower()
    fields: dict[str, Any] = {
        "adapter": adapter,
        "event_id": envelope.id,
        "instance": envelope.instance,
        "_event": envelope.event,
        "destination": mask_url(outcome.destination or target or adapter),
        "attempt": attempt,
        "duration_ms": round(elapsed * 1000, 1),
    }
    if outcome.status is not None:
        fields["status"] = outcome.status
    if isinstance(outcome, Skipped | Dead):
        fields["reason"] = outcome.reason
    if isinstance(settlement, Park):
        fields.update(error=settlement.outcome.error, retry_in_ms=settlement.delay_ms)
        if not settlement.outcome.counts:
            fields["deferred"] = True
    metrics.DELIVERIES.labels(adapter=adapter, outcome=name).inc()
    getattr(log, LEVELS.get(name, "error"))("delivery", outcome=name, **fields)


def report_invalid(adapter: str, message_id: str | None, attempt: int, reason: str) -> None:
    """A message that is not an event, dead-lettered without reaching the adapter."""
    metrics.DELIVERIES.labels(adapter=adapter, outcome="invalid").inc()
    log.error(
        "delivery",
        outcome="invalid",
        adapter=adapter,
        message_id=message_id,
        attempt=attempt,
        reason=reason,
    )
