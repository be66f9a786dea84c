"""Settling an outcome, decided without a broker: finish, park in a delay queue that exists for
the policy, or bury with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from router.amqp.headers import (
    ATTEMPT,
    ATTEMPTS,
    DEAD_AT,
    DEFERRALS,
    DESTINATION,
    DUE,
    LAST_ERROR,
    LAST_STATUS,
    MAX_TEXT_CHARS,
    REASON,
    SOURCE_QUEUE,
    TARGET,
    RetryState,
)
from router.delivery.adapter import Dead, Delivered, PerTarget, Retry, RetryPolicy, Skipped
from router.delivery.parking import Bury, Finish, Park, Parking
from router.delivery.retryqueues import delays_ms

POLICY = RetryPolicy(max_attempts=4, initial_delay=2.0, max_delay=60.0, jitter=0.0)
PARKING = Parking(POLICY, delays_ms(POLICY), "ex.webhook", deferral_limit=10)
NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def test_delivered_and_skipped_are_finished() -> None:
    for outcome in (Delivered("http://a"), Skipped("nobody wants it")):
        assert PARKING.settle(outcome, RetryState(), None, NOW) == Finish(outcome)


def test_a_retry_is_parked_with_the_next_attempt_and_the_policy_delay() -> None:
    settled = PARKING.settle(Retry("HTTP 503", status=503), RetryState(attempt=2), "sub-1", NOW)
    assert isinstance(settled, Park)
    assert settled.delay_ms == 4000  # 2 s doubled once
    assert settled.headers == {
        ATTEMPT: 3,
        LAST_ERROR: "HTTP 503",
        LAST_STATUS: 503,
        TARGET: "sub-1",
        DUE: None,  # a turn an earlier deferral gave is dropped from the copy
    }


def test_a_deferral_spends_no_attempt() -> None:
    settled = PARKING.settle(
        Retry("busy", delay=1.0, counts=False), RetryState(attempt=3, deferrals=4), None, NOW
    )
    assert isinstance(settled, Park)
    assert settled.headers[DEFERRALS] == 5
    assert ATTEMPT not in settled.headers
    assert settled.delay_ms == 1000


def test_a_deferral_to_a_turn_carries_it() -> None:
    settled = PARKING.settle(
        Retry("busy", delay=30.0, counts=False, due=1_764_000_000.25), RetryState(), None, NOW
    )
    assert isinstance(settled, Park)
    assert settled.headers[DUE] == 1_764_000_000_250
    assert settled.delay_ms == 25_000  # rounded down: back early, never late


def test_the_last_attempt_is_buried_with_its_error() -> None:
    retry = Retry("HTTP 500", destination="http://a/hook", status=500)
    settled = PARKING.settle(retry, RetryState(attempt=4), None, NOW)
    assert isinstance(settled, Bury)
    assert settled.outcome.reason == "gave up after 4 attempts: HTTP 500"
    assert settled.headers == {
        REASON: "gave up after 4 attempts: HTTP 500",
        ATTEMPTS: 4,
        DEAD_AT: "2026-12-02T10:30:00.000+00:00",
        SOURCE_QUEUE: "ex.webhook",
        DESTINATION: "http://a/hook",
        LAST_STATUS: 500,
    }


def test_too_many_deferrals_are_buried() -> None:
    settled = PARKING.settle(
        Retry("breaker open", counts=False), RetryState(deferrals=9), "sub-2", NOW
    )
    assert isinstance(settled, Bury)
    assert settled.outcome.reason == "deferred 10 times: breaker open"
    assert settled.headers[TARGET] == "sub-2"


def test_a_dead_end_is_buried_at_once() -> None:
    settled = PARKING.settle(Dead("HTTP 404 (not retried)"), RetryState(), None, NOW)
    assert isinstance(settled, Bury)
    assert settled.headers[ATTEMPTS] == 1


def test_error_texts_are_capped() -> None:
    settled = PARKING.settle(Retry("x" * 10_000), RetryState(), None, NOW)
    assert isinstance(settled, Park)
    assert len(settled.headers[LAST_ERROR]) == MAX_TEXT_CHARS


def test_progress_reads_the_headers_and_ignores_nonsense() -> None:
    assert RetryState.from_headers({}) == RetryState(1, 0)
    assert RetryState.from_headers({ATTEMPT: 3, DEFERRALS: 7}) == RetryState(3, 7)
    assert RetryState.from_headers({ATTEMPT: "3", DEFERRALS: -1}) == RetryState(1, 0)
    assert RetryState.from_headers({ATTEMPT: 0}) == RetryState(1, 0)


@given(
    delay=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    attempt=st.integers(min_value=1, max_value=50),
    counts=st.booleans(),
    initial=st.floats(min_value=0, max_value=3600),
    maximum=st.floats(min_value=0, max_value=86_400),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_every_parked_delay_has_its_queue(
    delay: float | None, attempt: int, counts: bool, initial: float, maximum: float, jitter: float
) -> None:
    """Whatever delay an adapter asks for, the copy goes to one of the policy's delay queues, so
    the set of queues a role can use is fixed by its policy alone."""
    policy = RetryPolicy(
        max_attempts=1_000, initial_delay=initial, max_delay=maximum, jitter=jitter
    )
    parking = Parking(policy, delays_ms(policy), "ex.webhook")
    settled = parking.settle(
        Retry("x", delay=delay, counts=counts), RetryState(attempt=attempt), None, NOW
    )
    assert isinstance(settled, Park)
    assert settled.delay_ms in parking.delays


def test_a_fan_out_is_settled_target_by_target() -> None:
    outcome = PerTarget(
        {
            "sub-1": Delivered(status=200),
            "sub-2": Retry("HTTP 503", status=503),
            "sub-3": Dead("HTTP 410 (not retried)", status=410),
        }
    )
    plan = PARKING.plan(outcome, RetryState(attempt=2), None, NOW)
    assert [(target, type(s).__name__) for target, s in plan] == [
        ("sub-1", "Finish"),
        ("sub-2", "Park"),
        ("sub-3", "Bury"),
    ]
    parked = plan[1][1]
    assert isinstance(parked, Park)
    assert (parked.headers[ATTEMPT], parked.headers[TARGET]) == (3, "sub-2")


def test_a_single_answer_keeps_the_copys_target() -> None:
    plan = PARKING.plan(Retry("boom"), RetryState(), "sub-9", NOW)
    assert [target for target, _ in plan] == ["sub-9"]
