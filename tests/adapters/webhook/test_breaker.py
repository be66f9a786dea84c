"""The breaker's state machine under every interleaving Hypothesis can find: admissions,
verdicts of requests in any order, and time moving on."""

from __future__ import annotations

import copy

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.webhook.breaker import Breaker, Go, Open, Probing, Verdict

THRESHOLD = 3


def cooldown(openings: int) -> float:
    return 10.0 * min(openings, 4)


def test_it_opens_after_the_threshold_and_a_failed_probe_opens_it_for_longer() -> None:
    breaker = Breaker(THRESHOLD, cooldown)
    for ticket in range(1, 4):
        assert breaker.admit(ticket, 0.0) == Go()
        breaker.release(ticket, Verdict.FAILURE, 1.0)
    assert breaker.admit(4, 5.0) == Open(11.0)
    assert breaker.admit(5, 11.0) == Go(probe=True)
    assert breaker.admit(6, 11.0) == Probing()
    breaker.release(5, Verdict.FAILURE, 12.0)
    assert breaker.probe is None
    assert breaker.admit(7, 12.0) == Open(32.0)
    assert breaker.admit(8, 32.0) == Go(probe=True)
    breaker.release(8, Verdict.SUCCESS, 33.0)
    assert breaker.closed
    assert breaker.admit(9, 33.0) == Go()


def test_a_probe_cut_short_by_the_router_lets_the_next_request_probe_at_once() -> None:
    breaker = Breaker(1, cooldown)
    breaker.admit(1, 0.0)
    breaker.release(1, Verdict.FAILURE, 0.0)
    assert breaker.admit(2, 10.0) == Go(probe=True)
    breaker.release(2, Verdict.NEUTRAL, 10.5)
    assert breaker.admit(3, 10.5) == Go(probe=True)
    assert breaker.openings == 1  # the cut-short probe did not count as a failure


def test_concurrent_failures_open_it_once() -> None:
    breaker = Breaker(THRESHOLD, cooldown)
    for ticket in range(16):
        breaker.admit(ticket, 0.0)
    for ticket in range(16):
        breaker.release(ticket, Verdict.FAILURE, 1.0)
    assert breaker.openings == 1
    assert breaker.open_until == 11.0


def test_a_success_from_an_older_request_closes_it() -> None:
    breaker = Breaker(1, cooldown)
    breaker.admit(1, 0.0)
    breaker.admit(2, 0.0)
    breaker.release(1, Verdict.FAILURE, 0.0)
    assert not breaker.closed
    breaker.release(2, Verdict.SUCCESS, 2.0)
    assert breaker.closed


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.breaker = Breaker(THRESHOLD, cooldown)
        self.now = 0.0
        self.tickets = 0
        self.in_flight: dict[int, bool] = {}  # ticket -> went as the probe

    @rule(seconds=st.floats(min_value=0, max_value=50))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def a_request_asks(self) -> None:
        self.tickets += 1
        was_closed = self.breaker.closed
        admission = self.breaker.admit(self.tickets, self.now)
        if isinstance(admission, Go):
            assert admission.probe == (not was_closed)
            self.in_flight[self.tickets] = admission.probe
        elif isinstance(admission, Open):
            assert admission.until > self.now

    @precondition(lambda self: bool(self.in_flight))
    @rule(
        pick=st.integers(min_value=0),
        verdict=st.sampled_from([Verdict.SUCCESS, Verdict.FAILURE, Verdict.NEUTRAL]),
    )
    def a_request_ends(self, pick: int, verdict: Verdict) -> None:
        ticket = sorted(self.in_flight)[pick % len(self.in_flight)]
        self.in_flight.pop(ticket)
        was_probe = ticket == self.breaker.probe
        open_before = self.breaker.open_until
        self.breaker.release(ticket, verdict, self.now)
        if was_probe:
            assert self.breaker.probe is None  # a probe's verdict always ends the probe
        if verdict is Verdict.SUCCESS:
            assert self.breaker.closed
        if verdict is Verdict.FAILURE and was_probe:
            assert self.breaker.open_until is not None
            assert self.breaker.open_until > self.now or cooldown(self.breaker.openings) == 0
        if not was_probe and open_before is not None and verdict is not Verdict.SUCCESS:
            # Requests sent before it opened never push the cool-down further out.
            assert self.breaker.open_until == open_before
        if verdict is Verdict.NEUTRAL and not was_probe:
            assert self.breaker.closed == (open_before is None)

    @invariant()
    def at_most_one_probe_and_it_is_in_flight(self) -> None:
        probes = [t for t, probe in self.in_flight.items() if probe and t == self.breaker.probe]
        assert len(probes) <= 1
        if self.breaker.probe is not None:
            assert self.breaker.probe in self.in_flight
            assert not self.breaker.closed

    @invariant()
    def closed_means_below_the_threshold(self) -> None:
        if self.breaker.closed:
            assert self.breaker.failures < THRESHOLD
            assert self.breaker.probe is None

    @invariant()
    def it_never_sticks(self) -> None:
        """Whatever happened, once the requests in flight end and the cool-down passes, a
        request goes."""
        future = copy.deepcopy(self.breaker)
        for ticket in sorted(self.in_flight):
            future.release(ticket, Verdict.NEUTRAL, self.now)
        later = max(self.now, future.open_until or self.now)
        assert isinstance(future.admit(self.tickets + 1, later), Go)


BreakerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60)
test_breaker_state_machine = BreakerMachine.TestCase
