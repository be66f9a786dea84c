"""What becomes of a message once its adapter has answered, decided without I/O.

A delivered or skipped event is finished: the message is acked. A retry is parked: a copy waits
in the delay queue of its delay (one of a bounded set, see ``router.delivery.retryqueues``) and comes back
to the work queue when its TTL runs out. A dead end, or a retry past the policy's last attempt or
the deferral limit, is buried: a copy goes to the dead-letter queue with its reason. The consumer
carries the settlement out and acks the original only once the copy is confirmed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from router.amqp.headers import DeadLetterRecord, Parked, RetryState
from router.amqp.topology import quantize_delay_ms
from router.constants import DEFERRAL_LIMIT
from router.delivery.adapter import (
    Dead,
    Delivered,
    Outcome,
    PerTarget,
    Retry,
    RetryPolicy,
    Single,
    Skipped,
)
from router.delivery.retryqueues import at_most, within
from router.logging import mask_url


@dataclass(frozen=True, slots=True)
class Finish:
    """Nothing to store: ack."""

    outcome: Delivered | Skipped


@dataclass(frozen=True, slots=True)
class Park:
    """Store a copy with ``headers`` in the delay queue of ``delay_ms``, then ack."""

    outcome: Retry
    delay_ms: int
    headers: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Bury:
    """Store a copy with ``headers`` in the dead-letter queue, then ack."""

    outcome: Dead
    headers: dict[str, Any]


Settlement = Finish | Park | Bury


@dataclass(frozen=True, slots=True)
class Parking:
    """The rules of one work queue: its retry policy, the delays its delay queues hold (shortest
    first), and the deferral limit."""

    policy: RetryPolicy
    delays: tuple[int, ...]
    source_queue: str
    deferral_limit: int = DEFERRAL_LIMIT

    def delay_ms(self, outcome: Retry, attempt: int) -> int:
        """The delay queue a retry waits in: its own delay (a ``Retry-After``, a breaker's
        cool-down) or the policy's, rounded to the series and kept within the set. A wait for
        a turn (``due``) is rounded down: it comes back early, never late, and waits out the
        rest then."""
        delay = outcome.delay
        if delay is None or not math.isfinite(delay) or delay < 0:
            delay = self.policy.delay_for(attempt)
        if outcome.due is not None:
            return at_most(delay * 1000, self.delays)
        return within(quantize_delay_ms(delay), self.delays)

    def plan(
        self, outcome: Outcome, state: RetryState, target: str | None, now: datetime
    ) -> list[tuple[str | None, Settlement]]:
        """The settlement of each target an answer speaks for: one, or each of a fan-out's."""
        parts: list[tuple[str | None, Single]] = (
            list(outcome.outcomes.items())
            if isinstance(outcome, PerTarget)
            else [(target, outcome)]
        )
        return [
            (part_target, self.settle(part, state, part_target, now)) for part_target, part in parts
        ]

    def settle(
        self, outcome: Single, state: RetryState, target: str | None, now: datetime
    ) -> Settlement:
        if isinstance(outcome, Delivered | Skipped):
            return Finish(outcome)
        if isinstance(outcome, Retry):
            given_up = self.given_up(outcome, state)
            if given_up is None:
                return self.park(outcome, state, target)
            outcome = given_up
        return self.bury(outcome, state.attempt, target, now)

    def given_up(self, retry: Retry, state: RetryState) -> Dead | None:
        """The dead end a retry comes to when it may not wait any longer, else None."""
        if retry.counts and self.policy.gives_up_after(state.attempt):
            reason = f"gave up after {state.attempt} attempts: {retry.error}"
        elif not retry.counts and state.deferrals + 1 >= self.deferral_limit:
            reason = f"deferred {state.deferrals + 1} times: {retry.error}"
        else:
            return None
        return Dead(
            reason, destination=retry.destination, status=retry.status, response=retry.response
        )

    def park(self, retry: Retry, state: RetryState, target: str | None) -> Park:
        due = retry.due if retry.due is not None and math.isfinite(retry.due) else None
        parked = Parked(
            last_error=retry.error,
            attempt=state.attempt + 1 if retry.counts else None,
            deferrals=None if retry.counts else state.deferrals + 1,
            # A turn belongs to the deferral that gave it.
            due_ms=None if due is None else round(due * 1000),
            last_status=retry.status,
            target=target,
        )
        return Park(retry, self.delay_ms(retry, state.attempt), parked.to_headers())

    def bury(self, dead: Dead, attempt: int, target: str | None, now: datetime) -> Bury:
        record = DeadLetterRecord(
            reason=dead.reason,
            attempts=attempt,
            dead_at=now.isoformat(timespec="milliseconds"),
            source_queue=self.source_queue,
            # Shown in error reports and by router dlq list: credentials in a URL stay here.
            destination=None if dead.destination is None else mask_url(dead.destination),
            last_status=dead.status,
            target=target,
        )
        return Bury(dead, record.to_headers())
