"""The circuit breaker of one receiver, as a state machine without I/O or clock of its own.

Closed: requests go. After ``threshold`` failures in a row it opens for a cool-down that grows
with each consecutive opening. When the cool-down is over, one request (the probe) finds out
whether the receiver is back; the others wait for its verdict. The probe's verdict always ends
the probe: a success closes the breaker, a failure opens it again for longer, and a request the
router itself cut short (shutdown, its own delivery timeout) says nothing about the receiver,
so the next request becomes the probe instead. A success of any request closes the breaker: the
receiver answered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from router.delivery.status import BreakerState


class Verdict(enum.Enum):
    SUCCESS = "success"  # the receiver answered (any status below 500 but 429)
    FAILURE = "failure"  # no answer, 5xx or 429
    NEUTRAL = "neutral"  # cut short by the router: says nothing about the receiver


@dataclass(frozen=True, slots=True)
class Go:
    probe: bool = False


@dataclass(frozen=True, slots=True)
class Open:
    until: float


@dataclass(frozen=True, slots=True)
class Probing:
    """A probe is out; its verdict decides."""


Admission = Go | Open | Probing


@dataclass(slots=True)
class Breaker:
    threshold: int
    cooldown: Callable[[int], float]  # seconds of the n-th consecutive opening
    failures: int = 0  # in a row, while closed
    openings: int = 0  # in a row, since the last success
    open_until: float | None = None  # None while closed
    probe: int | None = None  # the ticket of the probe in flight

    @property
    def closed(self) -> bool:
        return self.open_until is None

    def state(self) -> BreakerState:
        """Closed; probing while a probe is out; otherwise open (the next request after the
        cool-down probes)."""
        if self.open_until is None:
            return "closed"
        return "probing" if self.probe is not None else "open"

    def admit(self, ticket: int, now: float) -> Admission:
        """May request ``ticket`` go at ``now``? When the cool-down is over and no probe is
        out, it goes as the probe."""
        if self.open_until is None:
            return Go()
        if self.probe is not None:
            return Probing()
        if now < self.open_until:
            return Open(self.open_until)
        self.probe = ticket
        return Go(probe=True)

    def release(self, ticket: int, verdict: Verdict, now: float) -> None:
        """Request ``ticket`` ended with ``verdict``."""
        probe = ticket == self.probe
        if probe:
            self.probe = None
        if verdict is Verdict.SUCCESS:
            self.failures = 0
            self.openings = 0
            self.open_until = None
            self.probe = None
        elif verdict is Verdict.FAILURE:
            if probe:
                self._open(now)
            elif self.open_until is None:
                self.failures += 1
                if self.failures >= self.threshold:
                    self._open(now)
            # A failure of a request sent before the breaker opened changes nothing.
        elif probe and self.open_until is not None:
            # Cut short by the router: the next request probes at once.
            self.open_until = min(self.open_until, now)

    def _open(self, now: float) -> None:
        self.openings += 1
        self.failures = 0
        self.open_until = now + max(0.0, self.cooldown(self.openings))
