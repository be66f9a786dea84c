"""The attempt record each reported outcome becomes: its outcome name, masked destination,
subscription label, error, response and start time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.amqp.headers import RetryState
from router.config.store.attempts import Attempt
from router.delivery.adapter import Dead, Delivered, Retry, RetryPolicy, Skipped
from router.delivery.parking import Bury, Park, Parking
from router.delivery.report import attempt_of, label_of, report
from router.delivery.retryqueues import delays_ms
from schemas import build_envelope

POLICY = RetryPolicy(max_attempts=3, initial_delay=1.0, jitter=0.0)
PARKING = Parking(POLICY, delays_ms(POLICY), "ex.webhook")
NOW = datetime(2026, 12, 2, 10, 30, 0, 500_000, tzinfo=UTC)
ENVELOPE = build_envelope("shop", "messages.upsert", {"n": 1})


class Sink:
    def __init__(self) -> None:
        self.records: list[Attempt] = []

    def record(self, attempt: Attempt) -> None:
        self.records.append(attempt)


def test_a_delivery_is_recorded_with_its_answer_and_its_start() -> None:
    delivered = Delivered("https://user:pw@crm.example/h", status=200, response='{"ok":true}')
    settled = PARKING.settle(delivered, RetryState(attempt=1), "global", NOW)
    record = attempt_of("webhook", settled, ENVELOPE, 1, "global", 0.25, NOW)
    assert record == Attempt(
        event_id=ENVELOPE.id,
        instance="shop",
        event="messages.upsert",
        adapter="webhook",
        destination="https://user:***@crm.example/h",
        label="global",
        attempt=1,
        outcome="delivered",
        status=200,
        duration_ms=250.0,
        error=None,
        response='{"ok":true}',
        at="2026-12-02T10:30:00.250Z",
    )


def test_a_retry_is_recorded_with_its_error_masked() -> None:
    retry = Retry("request failed: http://u:secret@x/h", destination="http://u:secret@x/h")
    settled = PARKING.settle(retry, RetryState(attempt=1), "shop/crm", NOW)
    assert isinstance(settled, Park)
    record = attempt_of("webhook", settled, ENVELOPE, 1, "shop/crm", 0.0, NOW)
    assert (record.outcome, record.label, record.status, record.response) == (
        "retry",
        "crm",
        None,
        None,
    )
    assert record.error == "request failed: http://u:***@x/h"
    assert "secret" not in record.destination


def test_a_deferral_is_recorded_apart_from_failures() -> None:
    held = Retry("breaker open", delay=5, counts=False, destination="http://x/h")
    settled = PARKING.settle(held, RetryState(attempt=1), "global", NOW)
    assert isinstance(settled, Park)
    record = attempt_of("webhook", settled, ENVELOPE, 1, "global", 0.0, NOW)
    assert (record.outcome, record.error) == ("deferred", "breaker open")


def test_the_last_retry_is_recorded_dead_and_keeps_the_answer() -> None:
    retry = Retry("HTTP 500: boom", destination="http://x/h", status=500, response="boom")
    settled = PARKING.settle(retry, RetryState(attempt=3), None, NOW)
    assert isinstance(settled, Bury)
    record = attempt_of("webhook", settled, ENVELOPE, 3, None, 0.1, NOW)
    assert (record.outcome, record.attempt, record.status, record.response) == (
        "dead",
        3,
        500,
        "boom",
    )
    assert record.error == "gave up after 3 attempts: HTTP 500: boom"


def test_a_dead_end_and_a_skip_say_why() -> None:
    dead = PARKING.settle(Dead("HTTP 404 (not retried)", "http://x", 404), RetryState(), None, NOW)
    assert attempt_of("webhook", dead, ENVELOPE, 1, None, 0, NOW).error == (
        "HTTP 404 (not retried)"
    )
    skipped = PARKING.settle(Skipped("no subscription wants it"), RetryState(), None, NOW)
    record = attempt_of("pusher", skipped, ENVELOPE, 1, None, 0, NOW)
    assert (record.outcome, record.error, record.response) == (
        "skipped",
        "no subscription wants it",
        None,
    )
    # No destination of its own: the target's name, else the adapter's.
    assert record.destination == "pusher"
    assert attempt_of("pusher", skipped, ENVELOPE, 1, "global", 0, NOW).destination == "global"


@pytest.mark.parametrize(
    ("adapter", "target", "instance", "label"),
    [
        ("webhook", "global", "shop", "global"),
        ("webhook", "shop/crm", "shop", "crm"),
        ("webhook", "a/b/crm", "a/b", "crm"),  # an instance name with a slash in it
        ("webhook", "shop/bi.v2", "shop", "bi.v2"),
        ("webhook", None, "shop", None),
        ("pusher", "global", "shop", None),
        ("webhook-errors", "global", "shop", None),
    ],
)
def test_labels_are_the_webhook_subscriptions(
    adapter: str, target: str | None, instance: str, label: str | None
) -> None:
    assert label_of(adapter, target, instance) == label


def test_report_hands_the_record_over_only_when_asked() -> None:
    sink = Sink()
    settled = PARKING.settle(Delivered("http://x", 204, ""), RetryState(), "global", NOW)
    report("webhook", settled, ENVELOPE, 1, "global", 0.01)
    assert sink.records == []
    report("webhook", settled, ENVELOPE, 1, "global", 0.01, sink)
    assert [(r.event_id, r.outcome, r.response) for r in sink.records] == [
        (ENVELOPE.id, "delivered", "")
    ]
