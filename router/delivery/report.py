"""One JSON line, one count and one attempt record per delivery outcome: what became of an
event, where, on which attempt, and why."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from prometheus_client import Counter

from router import metrics
from router.config.store.attempts import Attempt, Outcome
from router.delivery.adapter import Dead, Delivered, Retry, Skipped
from router.delivery.adapter import Outcome as DeliveryOutcome
from router.delivery.parking import Park, Settlement
from router.history import Sink
from router.logging import get_logger, mask_url
from schemas import Envelope
from schemas.timefmt import format_utc

log = get_logger("router.delivery")
LEVELS = {"delivered": "info", "skipped": "info", "retry": "warning"}
OUTCOME_NAMES: Final[dict[type, Outcome]] = {
    Delivered: "delivered",
    Retry: "retry",
    Dead: "dead",
    Skipped: "skipped",
}
# Adapters whose targets are labelled subscriptions: the webhook's are "global" (the global
# webhook) or "<instance>/<label>".
LABELLED: Final = frozenset({"webhook"})


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
    history: Sink | None = None,
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
    if history is not None:
        now = datetime.now(UTC)
        history.record(attempt_of(adapter, settlement, envelope, attempt, target, elapsed, now))


def attempt_of(
    adapter: str,
    settlement: Settlement,
    envelope: Envelope,
    attempt: int,
    target: str | None,
    elapsed: float,
    now: datetime,
) -> Attempt:
    """The record of one attempt, which began ``elapsed`` seconds before ``now``."""
    outcome = settlement.outcome
    error = outcome.error if isinstance(outcome, Retry) else getattr(outcome, "reason", None)
    return Attempt(
        event_id=envelope.id,
        instance=envelope.instance,
        event=envelope.event,
        adapter=adapter,
        destination=mask_url(outcome.destination or target or adapter),
        label=label_of(adapter, target, envelope.instance),
        attempt=attempt,
        outcome=recorded_outcome(outcome),
        status=outcome.status,
        duration_ms=round(elapsed * 1000, 1),
        error=None if error is None else mask_url(error),
        response=None if isinstance(outcome, Skipped) else outcome.response,
        at=format_utc(now - timedelta(seconds=elapsed)),
    )


def recorded_outcome(outcome: DeliveryOutcome) -> Outcome:
    """The history's word for an outcome: a retry that spent no attempt (nothing was sent: the
    receiver's breaker was open or its slots full) is "deferred", apart from real failures."""
    if isinstance(outcome, Retry) and not outcome.counts:
        return "deferred"
    return OUTCOME_NAMES[type(outcome)]


def label_of(adapter: str, target: str | None, instance: str) -> str | None:
    """The subscription label an attempt was for: "global" for the global webhook, the label
    of "<instance>/<label>" (instance names may hold "/" too, so the instance is cut off
    whole), and None for adapters without labels."""
    if adapter not in LABELLED or target is None:
        return None
    return target.removeprefix(f"{instance}/")


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
