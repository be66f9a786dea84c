"""Per-endpoint isolation: a cap on requests in flight and a circuit breaker, so a hanging or
failing receiver holds a few consumer slots at most and its events wait in the retry queues
instead of in the consumer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


def endpoint_of(url: str) -> str:
    """Requests are grouped by origin: one receiver, whatever its paths."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


@dataclass(slots=True)
class Endpoint:
    in_flight: int = 0
    failures: int = 0  # consecutive
    open_until: float = 0.0
    opened: int = 0  # consecutive openings, for the growing cool-down
    probing: bool = False
    probe_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Deferral:
    """Not sent now; try again after ``delay`` seconds without spending an attempt."""

    reason: str
    delay: float


class Endpoints:
    def __init__(
        self,
        max_in_flight: int,
        failure_threshold: int,
        cooldown: Callable[[int], float],
        clock: Callable[[], float] = time.monotonic,
        busy_delay: float = 1.0,
    ) -> None:
        self.max_in_flight = max_in_flight
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown  # seconds for the n-th consecutive opening
        self.clock = clock
        self.busy_delay = busy_delay
        self._state: dict[str, Endpoint] = {}

    def state(self, endpoint: str) -> Endpoint:
        return self._state.setdefault(endpoint, Endpoint())

    def in_flight(self) -> dict[str, int]:
        return {name: e.in_flight for name, e in self._state.items() if e.in_flight}

    def admit(self, url: str) -> Deferral | None:
        """None: go ahead (and call :meth:`release` after). Otherwise why and how long to wait."""
        endpoint = self.state(endpoint_of(url))
        now = self.clock()
        if endpoint.open_until:
            if now < endpoint.open_until:
                return Deferral(
                    f"{endpoint_of(url)} failed {endpoint.failures} times in a row; waiting",
                    endpoint.open_until - now,
                )
            if endpoint.probing:
                return Deferral(f"{endpoint_of(url)} is being probed", self.busy_delay)
            endpoint.probing = True  # half-open: one request finds out whether it is back
            endpoint.probe_at = now
        elif endpoint.in_flight >= self.max_in_flight:
            return Deferral(
                f"{endpoint_of(url)} has {endpoint.in_flight} requests in flight", self.busy_delay
            )
        endpoint.in_flight += 1
        return None

    def release(self, url: str, healthy: bool, admitted_at: float | None = None) -> None:
        """``admitted_at``: the clock when the request was admitted; requests admitted before
        a probe may finish during it and must not end the probe."""
        endpoint = self.state(endpoint_of(url))
        endpoint.in_flight = max(0, endpoint.in_flight - 1)
        if endpoint.probing and (admitted_at is None or admitted_at >= endpoint.probe_at):
            endpoint.probing = False
        if healthy:
            endpoint.failures = 0
            endpoint.opened = 0
            endpoint.open_until = 0.0
            return
        endpoint.failures += 1
        if endpoint.failures >= self.failure_threshold:
            endpoint.opened += 1
            endpoint.open_until = self.clock() + self.cooldown(endpoint.opened)
