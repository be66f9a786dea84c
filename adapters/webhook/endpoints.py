"""Per-receiver isolation: a cap on requests in flight, a circuit breaker, and waiting that does
not cost the broker a round trip.

An event whose receiver is at its cap waits here for a free slot, in order, as long as not too
many others wait (``max_waiting`` events, ``max_waiting_bytes``): its message stays unacked in
the consumer. Past that, or past ``max_wait`` seconds, it is deferred to a delay queue, and the
delay is its turn: each deferred event reserves the next free moment of the receiver at its
measured pace, so it comes back about when a slot is free instead of looping through the broker
every second. The turn travels with the event (``due``): one that comes back early, since delays
are rounded to the delay queues' series, is deferred again for the rest of the time, keeping its
place. No receiver holds more than ``max_in_flight + max_waiting`` of the consumer's messages,
so the others keep flowing. Behind an open breaker an event is deferred until the cool-down
ends; while the probe is out, some wait for its verdict and the rest take turns after it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.webhook.breaker import Breaker, Go, Open, Verdict
from router.delivery.status import ReceiverState, receiver_of

# Before a receiver has answered once, a request is taken to last this long.
DEFAULT_LATENCY = 1.0
# Weight of the newest duration in the running mean of a receiver's request durations.
LATENCY_WEIGHT = 0.2
# Turns are reserved at most this far ahead, by default; beyond the longest delay queue of the
# retry policy a turn would only come back early.
MAX_RESERVATION = 600.0
# Until a receiver has answered once its pace is unknown: events are deferred this long
# without reserving a turn.
UNKNOWN_PACE_DELAY = 1.0
# An event back this close to its turn, or later, is on time.
ON_TIME = 0.5


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to send one request; give it back with :meth:`Endpoints.release`."""

    endpoint: str
    ticket: int
    probe: bool
    started: float


@dataclass(frozen=True, slots=True)
class Deferral:
    """Not sent now; try again after ``delay`` seconds without spending an attempt."""

    reason: str
    delay: float
    kind: str  # open, probing or busy
    due: float | None  # when the turn comes, in seconds since the epoch; None: no turn given


@dataclass(slots=True)
class Endpoint:
    breaker: Breaker
    in_flight: int = 0
    waiters: deque[asyncio.Future[Permit | None]] = field(default_factory=deque)
    waiting_bytes: int = 0
    latency: float = DEFAULT_LATENCY
    answered: int = 0  # requests that ended with a verdict, for knowing the pace
    next_turn: float = 0.0  # the next free moment a deferred event may reserve


class Endpoints:
    def __init__(
        self,
        max_in_flight: int,
        failure_threshold: int,
        cooldown: Callable[[int], float],
        clock: Callable[[], float] = time.monotonic,
        max_waiting: int | None = None,
        max_wait: float = 10.0,
        max_waiting_bytes: int = 32 * 1024 * 1024,
        wall: Callable[[], float] = time.time,
        max_reservation: float = MAX_RESERVATION,
    ) -> None:
        self.max_reservation = max_reservation
        self.max_in_flight = max_in_flight
        self.max_waiting = max_in_flight if max_waiting is None else max_waiting
        self.max_waiting_bytes = max_waiting_bytes
        self.max_wait = max_wait
        self.wall = wall
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown  # seconds for the n-th consecutive opening
        self.clock = clock
        self._state: dict[str, Endpoint] = {}
        self._tickets = itertools.count(1)

    def state(self, endpoint: str) -> Endpoint:
        found = self._state.get(endpoint)
        if found is None:
            found = self._state[endpoint] = Endpoint(Breaker(self.failure_threshold, self.cooldown))
        return found

    def in_flight(self) -> dict[str, int]:
        return {name: e.in_flight for name, e in self._state.items() if e.in_flight}

    def states(self) -> list[ReceiverState]:
        """How every receiver stands now, for the console."""
        now = self.clock()
        return [
            ReceiverState(
                receiver=name,
                in_flight=e.in_flight,
                waiting=len(e.waiters),
                breaker=e.breaker.state(),
                reopens_in=None
                if e.breaker.open_until is None
                else round(max(0.0, e.breaker.open_until - now), 1),
                latency_ms=round(e.latency * 1000, 1) if e.answered else None,
            )
            for name, e in self._state.items()
        ]

    async def acquire(self, url: str, size: int = 0, due: float | None = None) -> Permit | Deferral:
        """A permit to send now, after waiting in line for a slot if not too many others wait;
        otherwise a deferral whose delay is this event's turn. ``size``: the request body's
        bytes; ``due``: the turn this event was given when it was deferred before."""
        name = receiver_of(url)
        endpoint = self.state(name)
        loop = asyncio.get_running_loop()  # waiting is measured on the loop's own clock
        deadline = loop.time() + self.max_wait
        # Back before its turn (a wait for a turn is rounded down to a delay queue's), later than
        # what is already in flight and in line: deferred again for the rest at once; within
        # that, it waits in line like any other.
        early = due is not None and due - self.wall() > self._ahead(endpoint) + ON_TIME
        # Half the line is kept for events whose turn has come.
        room = (
            self.max_waiting // 2
            if due is not None and due - self.wall() > ON_TIME
            else self.max_waiting
        )
        while True:
            now = self.clock()
            admitted = self._admit(endpoint, name, now)
            if isinstance(admitted, Permit):
                return admitted
            kind, why = admitted
            if (
                early
                or kind == "open"
                or len(endpoint.waiters) >= room
                or endpoint.waiting_bytes + size > self.max_waiting_bytes
                or loop.time() >= deadline
            ):
                return self._defer(endpoint, f"{name}: {why}", kind, now, due)
            handed = await self._wait(endpoint, deadline - loop.time(), size)
            if handed is not None:
                return handed

    def _admit(self, endpoint: Endpoint, name: str, now: float) -> Permit | tuple[str, str]:
        """A permit when the breaker and the cap allow one and nobody waits in line; otherwise
        why not, as (kind, reason)."""
        ticket = next(self._tickets)
        admission = endpoint.breaker.admit(ticket, now)
        if isinstance(admission, Go):
            if admission.probe or (
                endpoint.in_flight < self.max_in_flight and not endpoint.waiters
            ):
                endpoint.in_flight += 1
                return Permit(name, ticket, admission.probe, now)
            return "busy", f"{endpoint.in_flight} requests are in flight"
        if isinstance(admission, Open):
            return "open", "it is failing; its cool-down is not over"
        return "probing", "a probe finds out whether it is back"

    def _defer(
        self, endpoint: Endpoint, why: str, kind: str, now: float, due: float | None
    ) -> Deferral:
        wall = self.wall()
        if due is not None and due - wall > ON_TIME and kind != "open":
            return Deferral(f"{why}; back before its turn", due - wall, kind, due)
        if not endpoint.answered and endpoint.breaker.closed:
            # The receiver's pace is not known yet: no turn to give, only a short wait.
            return Deferral(f"{why}; its pace is not known yet", UNKNOWN_PACE_DELAY, kind, None)
        # A turn from the schedule, which counts it: one whose turn came while the line was
        # full goes to the end as well, or it would crowd the turns given to others.
        delay = self._turn(endpoint, now)
        return Deferral(f"{why}; deferred to its turn", delay, kind, wall + delay)

    def release(self, permit: Permit, verdict: Verdict) -> None:
        endpoint = self.state(permit.endpoint)
        endpoint.in_flight = max(0, endpoint.in_flight - 1)
        now = self.clock()
        if verdict is not Verdict.NEUTRAL:
            took = max(0.0, now - permit.started)
            weight = LATENCY_WEIGHT if endpoint.answered else 1.0
            endpoint.latency += weight * (took - endpoint.latency)
            endpoint.answered += 1
        was_closed = endpoint.breaker.closed
        endpoint.breaker.release(permit.ticket, verdict, now)
        if endpoint.breaker.closed and not was_closed:
            endpoint.next_turn = 0.0  # turns reserved behind the open breaker are moot now
        self._wake(endpoint, permit.endpoint)

    def _ahead(self, endpoint: Endpoint) -> float:
        """Seconds until what is in flight and in line has gone, at the receiver's pace."""
        pace = endpoint.latency / self.max_in_flight
        return (endpoint.in_flight + len(endpoint.waiters)) * pace

    def _turn(self, endpoint: Endpoint, now: float) -> float:
        """Reserve the next free moment of ``endpoint`` and return how far off it is."""
        pace = endpoint.latency / self.max_in_flight  # seconds between two free slots
        ahead = self._ahead(endpoint)
        turn = max(endpoint.next_turn, now + ahead)
        if endpoint.breaker.open_until is not None:
            turn = max(turn, endpoint.breaker.open_until)
        turn = min(turn, now + self.max_reservation)
        endpoint.next_turn = turn + pace
        return turn - now

    async def _wait(self, endpoint: Endpoint, timeout: float, size: int) -> Permit | None:
        """Wait in line: a permit when a slot is handed over, None when it is time to look
        again (the breaker changed, or ``timeout`` passed)."""
        waiter: asyncio.Future[Permit | None] = asyncio.get_running_loop().create_future()
        endpoint.waiters.append(waiter)
        endpoint.waiting_bytes += size
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            # A slot may have been handed over at the moment the wait ran out.
            return waiter.result() if waiter.done() and not waiter.cancelled() else None
        except BaseException:
            handed = waiter.result() if waiter.done() and not waiter.cancelled() else None
            if handed is not None:
                self.release(handed, Verdict.NEUTRAL)  # leaving: the slot goes to the next one
            raise
        finally:
            endpoint.waiting_bytes -= size
            if waiter in endpoint.waiters:
                endpoint.waiters.remove(waiter)

    def _wake(self, endpoint: Endpoint, name: str) -> None:
        """Hand free slots to the longest waiters, in order; while the breaker is not closed,
        wake them all to read it again (to wait for the probe's verdict, or to be deferred)."""
        now = self.clock()
        while endpoint.waiters:
            if not endpoint.breaker.closed:
                for waiter in endpoint.waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                endpoint.waiters.clear()
                return
            if endpoint.in_flight >= self.max_in_flight:
                return
            waiter = endpoint.waiters.popleft()
            if waiter.done():
                continue
            ticket = next(self._tickets)
            endpoint.breaker.admit(ticket, now)  # closed: always goes
            endpoint.in_flight += 1
            waiter.set_result(Permit(name, ticket, False, now))
