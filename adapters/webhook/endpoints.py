"""Per-receiver isolation: a cap on requests in flight, a circuit breaker, and waiting that does
not cost the broker a round trip.

An event whose receiver is at its cap waits here for a free slot, in order, as long as few
others wait (``max_waiting``): its message stays unacked in the consumer. Past that, or past
``max_wait`` seconds, it is deferred to a delay queue, and the delay is its turn: each deferred
event reserves the next free moment of the receiver at its measured pace, so an event comes
back about when a slot is free instead of looping through the broker every second. No receiver
can hold more than ``max_in_flight + max_waiting`` of the consumer's messages, so the others
keep flowing. Behind an open breaker an event is deferred until the cool-down ends; while the
probe is out, a few wait for its verdict and the rest take turns after it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from adapters.webhook.breaker import Breaker, Go, Open, Probing, Verdict

# Before a receiver has answered once, a request is taken to last this long.
DEFAULT_LATENCY = 1.0
# Weight of the newest duration in the running mean of a receiver's request durations.
LATENCY_WEIGHT = 0.2
# Turns are reserved at most this far ahead; past it the delay queues' own cap applies.
MAX_RESERVATION = 600.0


def endpoint_of(url: str) -> str:
    """Requests are grouped by origin: one receiver, whatever its paths."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


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


@dataclass(slots=True)
class Endpoint:
    breaker: Breaker
    in_flight: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    latency: float = DEFAULT_LATENCY
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
    ) -> None:
        self.max_in_flight = max_in_flight
        self.max_waiting = max_in_flight if max_waiting is None else max_waiting
        self.max_wait = max_wait
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

    def open_breakers(self) -> list[str]:
        return [name for name, e in self._state.items() if not e.breaker.closed]

    async def acquire(self, url: str) -> Permit | Deferral:
        """A permit to send now, after waiting for a slot if few others wait; otherwise a
        deferral whose delay is this event's turn."""
        name = endpoint_of(url)
        endpoint = self.state(name)
        loop = asyncio.get_running_loop()  # waiting is measured on the loop's own clock
        deadline = loop.time() + self.max_wait
        while True:
            now = self.clock()
            ticket = next(self._tickets)
            admission = endpoint.breaker.admit(ticket, now)
            if isinstance(admission, Go) and (
                admission.probe or endpoint.in_flight < self.max_in_flight
            ):
                endpoint.in_flight += 1
                return Permit(name, ticket, admission.probe, now)
            if isinstance(admission, Open):
                kind, why = "open", "it is failing; its cool-down is not over"
            elif isinstance(admission, Probing):
                kind, why = "probing", "a probe finds out whether it is back"
            else:
                kind, why = "busy", f"{endpoint.in_flight} requests are in flight"
            if (
                isinstance(admission, Open)
                or len(endpoint.waiters) >= self.max_waiting
                or loop.time() >= deadline
            ):
                delay = self._turn(endpoint, now)
                return Deferral(f"{name}: {why}; deferred to its turn", delay, kind)
            await self._wait(endpoint, deadline - loop.time())

    def release(self, permit: Permit, verdict: Verdict) -> None:
        endpoint = self.state(permit.endpoint)
        endpoint.in_flight = max(0, endpoint.in_flight - 1)
        now = self.clock()
        if verdict is not Verdict.NEUTRAL:
            took = max(0.0, now - permit.started)
            endpoint.latency += LATENCY_WEIGHT * (took - endpoint.latency)
        endpoint.breaker.release(permit.ticket, verdict, now)
        self._wake(endpoint)

    def _turn(self, endpoint: Endpoint, now: float) -> float:
        """Reserve the next free moment of ``endpoint`` and return how far off it is."""
        pace = endpoint.latency / self.max_in_flight  # seconds between two free slots
        ahead = (endpoint.in_flight + len(endpoint.waiters)) * pace
        turn = max(endpoint.next_turn, now + ahead)
        if endpoint.breaker.open_until is not None:
            turn = max(turn, endpoint.breaker.open_until)
        turn = min(turn, now + MAX_RESERVATION)
        endpoint.next_turn = turn + pace
        return turn - now

    async def _wait(self, endpoint: Endpoint, timeout: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        endpoint.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            pass  # the caller looks again, and defers
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake(endpoint)  # woken, but leaving: the turn goes to the next one
            raise
        finally:
            if waiter in endpoint.waiters:
                endpoint.waiters.remove(waiter)

    def _wake(self, endpoint: Endpoint) -> None:
        """Wake the longest waiter; a breaker that changed wakes them all, to read it again."""
        while endpoint.waiters:
            waiter = endpoint.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if endpoint.breaker.closed:
                    return
