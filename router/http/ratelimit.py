"""Per-instance ingest rates: a token bucket for each instance, so one noisy instance cannot
take ingest from the others.

A bucket holds up to ``rate`` tokens (a second's worth: the burst) and refills at ``rate`` per
second; an event costs one. A batch is let in whole when the bucket holds as many tokens as the
batch has events, or is full, so a batch larger than the burst is not refused for ever; the
bucket then owes the rest, and later requests wait until it is paid back.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

# Buckets kept at most; the idlest are forgotten first (a forgotten bucket is a full one).
MAX_BUCKETS = 100_000


class TokenBuckets:
    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        if rate <= 0:
            raise ValueError("a rate is a positive number of events per second")
        self.rate = rate
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, key: str, events: int = 1) -> float:
        """0 when ``events`` may go now (and are taken), else the seconds to wait first."""
        now = self.clock()
        tokens, then = self._buckets.pop(key, (self.rate, now))
        tokens = min(self.rate, tokens + (now - then) * self.rate)
        if tokens < min(events, self.rate):
            self._remember(key, tokens, now)
            return (min(events, self.rate) - tokens) / self.rate
        self._remember(key, tokens - events, now)
        return 0.0

    def _remember(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)  # most recent last
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))
