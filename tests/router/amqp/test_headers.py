"""The header records that travel with a message: written and read back the same."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from router.amqp.headers import (
    ATTEMPT,
    DEFERRALS,
    DUE,
    LAST_ERROR,
    MAX_TEXT_CHARS,
    REASON,
    DeadLetterRecord,
    Parked,
    RetryState,
)
from router.amqp.topology import AdapterQueues


def test_retry_state_reads_what_it_can_and_defaults_the_rest() -> None:
    assert RetryState.from_headers({}) == RetryState(1, 0)
    assert RetryState.from_headers({ATTEMPT: 3, DEFERRALS: 7}) == RetryState(3, 7)
    assert RetryState.from_headers({ATTEMPT: True, DEFERRALS: "2"}) == RetryState(1, 0)


def test_a_parked_copy_writes_what_changed_and_always_its_turn() -> None:
    assert Parked("boom", attempt=2).to_headers() == {LAST_ERROR: "boom", ATTEMPT: 2, DUE: None}
    headers = Parked("x" * 5000, deferrals=1, due_ms=7, last_status=503, target="t").to_headers()
    assert len(headers[LAST_ERROR]) == MAX_TEXT_CHARS
    assert (headers[DEFERRALS], headers[DUE]) == (1, 7)
    assert ATTEMPT not in headers


def test_a_dead_letter_record_reads_back_as_written() -> None:
    record = DeadLetterRecord(
        reason="gave up after 5 attempts: HTTP 500",
        attempts=5,
        dead_at="2026-12-02T13:30:00.123+00:00",
        source_queue="router.events.webhook",
        destination="https://hooks.example/x",
        last_status=500,
        target="sub-1",
    )
    assert DeadLetterRecord.from_headers(record.to_headers()) == record


def test_a_dead_letter_of_the_brokers_own_says_so() -> None:
    record = DeadLetterRecord.from_headers({"x-first-death-reason": b"delivery_limit"})
    assert record.reason == "broker: delivery_limit"
    assert (record.attempts, record.source_queue) == (None, None)
    assert DeadLetterRecord.from_headers({REASON: "mine"}).reason == "mine"


def test_queue_names_are_built_and_parsed_by_one_type() -> None:
    queues = AdapterQueues.for_role("evolution.events", "webhook")
    assert (queues.work, queues.dlq) == ("evolution.events.webhook", "evolution.events.webhook.dlq")
    assert AdapterQueues.of_dlq(queues.dlq) == queues
    assert AdapterQueues.of_work(queues.work) == queues


@pytest.mark.parametrize(
    ("name", "parse"),
    [
        ("events.webhook", AdapterQueues.of_dlq),
        ("webhook", AdapterQueues.of_work),
        (".dlq", AdapterQueues.of_dlq),
        ("events.", AdapterQueues.of_work),
    ],
)
def test_names_that_are_not_queues_of_a_role_are_refused(
    name: str, parse: Callable[[str], AdapterQueues]
) -> None:
    with pytest.raises(ValueError, match="is not a"):
        parse(name)
