"""What becomes of a message once its adapter has answered, decided without I/O.

A delivered or skipped event is finished: the message is acked. A retry is parked: a copy waits
in the delay queue of its delay (one of a bounded set, see ``router.retryqueues``) and comes back
to the work queue when its TTL runs out. A dead end, or a retry past the policy's last attempt or
the deferral limit, is buried: a copy goes to the dead-letter queue with its reason. The consumer
carries the settlement out and acks the original only once the copy is confirmed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from router.adapter import Dead, Delivered, Retry, RetryPolicy, Skipped
from router.constants import (
    DEFERRAL_LIMIT,
    HEADER_ATTEMPT,
    HEADER_ATTEMPTS,
    HEADER_DEAD_AT,
    HEADER_DEFERRALS,
    HEADER_DESTINATION,
    HEADER_DUE,
    HEADER_LAST_ERROR,
    HEADER_LAST_STATUS,
    HEADER_REASON,
    HEADER_SOURCE_QUEUE,
    HEADER_TARGET,
)
from router.retryqueues import at_most, within
from router.topology import quantize_delay_ms

# Header values are capped so a huge error text cannot bloat every parked copy.
MAX_ERROR_CHARS = 2000

Single = Delivered | Retry | Dead | Skipped


def count_header(headers: Mapping[str, Any], name: str, default: int) -> int:
    value = headers.get(name, default)
    return value if isinstance(value, int) and value >= 0 else default


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a message has come, as its headers say."""

    attempt: int = 1  # the attempt this delivery is, 1 for the first
    deferrals: int = 0  # times it waited without an attempt being spent

    @classmethod
    def of(cls, headers: Mapping[str, Any]) -> Progress:
        return cls(
            attempt=max(1, count_header(headers, HEADER_ATTEMPT, 1)),
            deferrals=count_header(headers, HEADER_DEFERRALS, 0),
        )


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

    def settle(
        self, outcome: Single, progress: Progress, target: str | None, now: datetime
    ) -> Settlement:
        if isinstance(outcome, Delivered | Skipped):
            return Finish(outcome)
        if isinstance(outcome, Retry):
            given_up = self.given_up(outcome, progress)
            if given_up is None:
                return self.park(outcome, progress, target)
            outcome = given_up
        return self.bury(outcome, progress.attempt, target, now)

    def given_up(self, retry: Retry, progress: Progress) -> Dead | None:
        """The dead end a retry comes to when it may not wait any longer, else None."""
        if retry.counts and self.policy.gives_up_after(progress.attempt):
            reason = f"gave up after {progress.attempt} attempts: {retry.error}"
        elif not retry.counts and progress.deferrals + 1 >= self.deferral_limit:
            reason = f"deferred {progress.deferrals + 1} times: {retry.error}"
        else:
            return None
        return Dead(reason, destination=retry.destination, status=retry.status)

    def park(self, retry: Retry, progress: Progress, target: str | None) -> Park:
        headers: dict[str, Any] = {HEADER_LAST_ERROR: retry.error[:MAX_ERROR_CHARS]}
        if retry.counts:
            headers[HEADER_ATTEMPT] = progress.attempt + 1
        else:
            headers[HEADER_DEFERRALS] = progress.deferrals + 1
        # A turn belongs to the deferral that gave it; None removes one an earlier gave.
        due = retry.due if retry.due is not None and math.isfinite(retry.due) else None
        headers[HEADER_DUE] = None if due is None else round(due * 1000)
        if retry.status is not None:
            headers[HEADER_LAST_STATUS] = retry.status
        if target is not None:
            headers[HEADER_TARGET] = target
        return Park(retry, self.delay_ms(retry, progress.attempt), headers)

    def bury(self, dead: Dead, attempt: int, target: str | None, now: datetime) -> Bury:
        headers: dict[str, Any] = {
            HEADER_REASON: dead.reason[:MAX_ERROR_CHARS],
            HEADER_ATTEMPTS: attempt,
            HEADER_DEAD_AT: now.isoformat(timespec="milliseconds"),
            HEADER_SOURCE_QUEUE: self.source_queue,
        }
        if dead.destination:
            headers[HEADER_DESTINATION] = dead.destination
        if dead.status is not None:
            headers[HEADER_LAST_STATUS] = dead.status
        if target is not None:
            headers[HEADER_TARGET] = target
        return Bury(dead, headers)
