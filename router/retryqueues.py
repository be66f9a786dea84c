"""The retry queues a retry policy can use, so a broker can be provisioned with all of them.

Retry delays are rounded to the R10 series (:func:`router.topology.quantize_delay_ms`), so a
policy uses the R10 values between its shortest delay and its longest: the shortest is the
initial delay less its jitter, or one second (how long an event waits while its receiver is
busy) if that is shorter; the longest is twice the longest delay plus jitter (``Retry-After``
is honoured up to twice the backoff). On a provisioned broker the consumer moves any delay
outside that range to its nearest end, so every delay it uses has its queue.
"""

from __future__ import annotations

from router.adapter import RetryPolicy
from router.constants import RETRY_DELAY_SERIES, RETRY_MAX_DELAY_MS
from router.topology import quantize_delay_ms

BUSY_DELAY_MS = 1000


def delays_ms(policy: RetryPolicy) -> tuple[int, ...]:
    """Every quantised delay, in milliseconds, that ``policy`` can ask for, shortest first."""
    shortest = min(policy.initial_delay, policy.max_delay) * (1 - policy.jitter)
    low = min(quantize_delay_ms(shortest), BUSY_DELAY_MS)
    high = quantize_delay_ms(2 * max(policy.max_delay, policy.initial_delay) * (1 + policy.jitter))
    found: set[int] = set()
    decade = 1
    while decade <= RETRY_MAX_DELAY_MS:
        for step in RETRY_DELAY_SERIES:
            ms = quantize_delay_ms(step * decade / 1000)
            if low <= ms <= high:
                found.add(ms)
        decade *= 10
    return tuple(sorted(found))


def within(delay_ms: int, delays: tuple[int, ...]) -> int:
    """``delay_ms`` (already quantised) moved into the range ``delays`` covers."""
    return min(max(delay_ms, delays[0]), delays[-1])
