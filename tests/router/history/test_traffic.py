"""The traffic view's decisions without I/O: the window's minutes, each destination's series
laid over them, success rate and latency, and the worst destination first."""

from __future__ import annotations

from datetime import UTC, datetime

from router.config.store.minutes import TrafficRow
from router.history.traffic import Window, series, traffic


def row(
    minute: str, *, delivered: int = 0, retried: int = 0, dead: int = 0, **key: str
) -> TrafficRow:
    adapter = key.get("adapter", "webhook")
    destination = key.get("destination", "")
    return TrafficRow(
        adapter=adapter,
        instance=key.get("instance", ""),
        label=key.get("label", "global") if adapter == "webhook" else None,
        destination=destination,
        minute=minute,
        delivered=delivered,
        retried=retried,
        dead=dead,
        skipped=0,
        deferred=0,
        total_ms=10.0 * (delivered + retried + dead),
        max_ms=10.0 if delivered + retried + dead else 0.0,
        example=destination or "https://crm.example/hook",
    )


def test_the_window_ends_with_the_current_minute_across_an_hour() -> None:
    window = Window.ending(datetime(2026, 1, 2, 4, 1, 30, 500_000, tzinfo=UTC), 3)
    assert window.minutes == ("2026-01-02T03:59", "2026-01-02T04:00", "2026-01-02T04:01")
    assert window.since == "2026-01-02T03:59:00.000Z"


def test_a_series_has_a_value_for_every_minute_and_none_outside() -> None:
    window = Window.ending(datetime(2026, 1, 2, 4, 1, tzinfo=UTC), 3)
    found = series(
        [
            row("2026-01-02T03:58", delivered=100),  # before the window: left out
            row("2026-01-02T04:00", delivered=3, retried=1),
        ],
        window,
    )
    assert found.delivered_by_minute == (0, 3, 0)
    assert found.failed_by_minute == (0, 1, 0)
    assert found.mean_ms_by_minute == (None, 10.0, None)
    assert (found.delivered, found.failed, found.success_rate, found.mean_ms) == (3, 1, 0.75, 10.0)


def test_without_a_verdict_there_is_no_rate_nor_latency() -> None:
    window = Window.ending(datetime(2026, 1, 2, 4, 1, tzinfo=UTC), 1)
    found = series([], window)
    assert (found.success_rate, found.mean_ms, found.max_ms) == (None, None, 0.0)


def test_the_worst_destination_comes_first() -> None:
    window = Window.ending(datetime(2026, 1, 2, 4, 1, tzinfo=UTC), 2)
    now = "2026-01-02T04:01"
    answered = traffic(
        [
            row(now, delivered=10, adapter="sqs", destination="healthy"),
            row(now, delivered=1, dead=9, instance="shop", label="crm"),
            row(now, delivered=5, retried=5),
            row("2026-01-02T04:00", delivered=1, retried=1),  # the same global webhook
        ],
        window,
    )
    assert [(d["adapter"], d["instance"], d["label"]) for d in answered] == [
        ("webhook", "shop", "crm"),
        ("webhook", None, "global"),
        ("sqs", None, None),
    ]
    worst, middle, best = answered
    assert (worst["success_rate"], worst["dead"]) == (0.1, 9)
    assert middle["delivered_by_minute"] == [1, 5]
    assert middle["failed_by_minute"] == [1, 5]
    assert middle["success_rate"] == 0.5
    assert best["destination"] == "healthy"
