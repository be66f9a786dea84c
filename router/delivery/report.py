"""One JSON line, and one count, per delivery outcome: what became of an event, where, on which
attempt, and why."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter

from router import metrics
from router.delivery.adapter import Dead, Skipped
from router.delivery.parking import Park, Settlement
from router.logging import get_logger
from schemas import Envelope

log = get_logger("router.delivery")
LEVELS = {"delivered": "info", "skipped": "info", "retry": "warning"}


@functools.lru_cache(maxsize=256)
def counter(adapter: str, outcome: str) -> Counter:
    """The deliveries counter of one adapter and outcome, looked up once."""
    return metrics.DELIVERIES.labels(adapter=adapter, outcome=outcome)


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
        "destination": outcome.destination or target or adapter,  # masked by the logger
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
    counter(adapter, name).inc()
    getattr(log, LEVELS.get(name, "error"))("delivery", outcome=name, **fields)


def report_invalid(adapter: str, message_id: str | None, attempt: int, reason: str) -> None:
    """A message that is not an event, dead-lettered without reaching the adapter."""
    counter(adapter, "invalid").inc()
    log.error(
        "delivery",
        outcome="invalid",
        adapter=adapter,
        message_id=message_id,
        attempt=attempt,
        reason=reason,
    )
