"""What the recorder decides, without I/O: what to drop when its buffer is full, when to
write, and what a prune removes."""

from __future__ import annotations

from datetime import datetime, timedelta

from router.config.store.attempts import Prune
from router.config.store.minutes import minute_of
from schemas.timefmt import format_utc

# Before any record: a retention longer than the calendar keeps everything.
BEGINNING = "0001-01-01T00:00:00.000Z"
# Per-minute sums are kept this long: beyond the longest traffic window (an hour).
TRAFFIC_HOURS = 2.0


def overflow(waiting: int, capacity: int) -> int:
    """How many of the oldest records go so that ``waiting`` fits in ``capacity``: history
    gives way, a delivery never waits for it."""
    return max(0, waiting - capacity)


def flush_due(waiting: int, batch: int, since_write: float, interval: float) -> bool:
    """Write now: a whole batch waits, or something has waited a whole interval."""
    return waiting >= batch or (waiting > 0 and since_write >= interval)


def batch_size(waiting: int, batch: int) -> int:
    """Records taken by one write: the oldest ones, at most a batch."""
    return min(waiting, batch)


def prune_rule(now: datetime, retention_hours: float, max_rows: int) -> Prune:
    """Records older than the retention go, then the oldest beyond ``max_rows``; per-minute
    sums older than ``TRAFFIC_HOURS`` (or the retention, when shorter) go too."""
    try:
        older_than = format_utc(now - timedelta(hours=retention_hours))
    except OverflowError:
        older_than = BEGINNING
    kept = timedelta(hours=min(retention_hours, TRAFFIC_HOURS))
    minutes_before = minute_of(format_utc(now - kept))
    return Prune(older_than=older_than, keep_at_most=max_rows, minutes_before=minutes_before)
