"""The recorder's decisions, without I/O: what a full buffer drops, when a batch is written,
and what a prune removes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.history.decisions import BEGINNING, batch_size, flush_due, overflow, prune_rule


@pytest.mark.parametrize(
    ("waiting", "capacity", "dropped"),
    [(0, 10, 0), (10, 10, 0), (11, 10, 1), (25, 10, 15), (1, 1, 0), (2, 1, 1)],
)
def test_a_full_buffer_drops_only_what_is_over_its_bound(
    waiting: int, capacity: int, dropped: int
) -> None:
    assert overflow(waiting, capacity) == dropped


@pytest.mark.parametrize(
    ("waiting", "since_write", "due"),
    [
        (0, 0.0, False),  # nothing waits
        (0, 99.0, False),  # nothing waits, however long ago the last write was
        (3, 0.2, False),  # a few, not yet a whole interval
        (3, 1.0, True),  # a few, a whole interval
        (500, 0.0, True),  # a whole batch, at once
        (1200, 0.0, True),
        (499, 0.999, False),
    ],
)
def test_a_write_is_due_for_a_whole_batch_or_a_whole_interval(
    waiting: int, since_write: float, due: bool
) -> None:
    assert flush_due(waiting, batch=500, since_write=since_write, interval=1.0) is due


@pytest.mark.parametrize(("waiting", "taken"), [(0, 0), (7, 7), (500, 500), (1234, 500)])
def test_one_write_takes_at_most_a_batch(waiting: int, taken: int) -> None:
    assert batch_size(waiting, 500) == taken


def test_a_prune_removes_what_is_older_than_the_retention_and_beyond_the_bound() -> None:
    now = datetime(2026, 11, 25, 10, 30, 0, 123_456, tzinfo=UTC)
    rule = prune_rule(now, 168, 1_000_000)
    assert rule.older_than == "2026-11-18T10:30:00.123Z"
    assert rule.keep_at_most == 1_000_000
    assert prune_rule(now, 0.5 / 3600, 7).older_than == "2026-11-25T10:29:59.623Z"


@pytest.mark.parametrize("hours", [1e9, 1e30])
def test_a_retention_beyond_the_calendar_keeps_everything(hours: float) -> None:
    rule = prune_rule(datetime(2026, 1, 1, tzinfo=UTC), hours, 10)
    assert rule.older_than == BEGINNING


def test_per_minute_sums_are_kept_two_hours_or_the_retention_when_shorter() -> None:
    now = datetime(2026, 11, 25, 10, 30, 0, 123_000, tzinfo=UTC)
    assert prune_rule(now, 168, 10).minutes_before == "2026-11-25T08:30"
    assert prune_rule(now, 0.5, 10).minutes_before == "2026-11-25T10:00"
    assert prune_rule(now, 1e12, 10).minutes_before == "2026-11-25T08:30"
