"""Each destination's success rate and latency over the last minutes, from the attempt history's
per-minute sums, without I/O: the window, and the series a sparkline draws."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from router.config.store.minutes import TrafficRow, minute_of
from schemas.timefmt import format_utc


@dataclass(frozen=True, slots=True)
class Window:
    """The last ``len(minutes)`` minutes, the current one last: attempts from ``since`` on."""

    since: str
    minutes: tuple[str, ...]  # as ``TrafficRow.minute`` spells them

    @classmethod
    def ending(cls, now: datetime, minutes: int) -> Window:
        current = now.replace(second=0, microsecond=0)
        starts = [current - timedelta(minutes=n) for n in range(minutes - 1, -1, -1)]
        return cls(format_utc(starts[0]), tuple(minute_of(format_utc(s)) for s in starts))


@dataclass(frozen=True, slots=True)
class Series:
    delivered: int
    retried: int
    dead: int
    skipped: int
    deferred: int
    total_ms: float
    max_ms: float
    delivered_by_minute: tuple[int, ...]
    failed_by_minute: tuple[int, ...]
    mean_ms_by_minute: tuple[float | None, ...]

    @property
    def failed(self) -> int:
        return self.retried + self.dead

    @property
    def success_rate(self) -> float | None:
        """Of the attempts that reached a verdict, the share delivered; None without any."""
        tried = self.delivered + self.failed
        return round(self.delivered / tried, 4) if tried else None

    @property
    def mean_ms(self) -> float | None:
        return mean(self.total_ms, self.delivered + self.failed)


def mean(total_ms: float, count: int) -> float | None:
    return round(total_ms / count, 1) if count else None


def series(rows: Sequence[TrafficRow], window: Window) -> Series:
    """One destination's rows (one per minute at most) laid over ``window``."""
    by_minute = {row.minute: row for row in rows if row.minute in window.minutes}
    kept = list(by_minute.values())
    timed = [by_minute.get(m) for m in window.minutes]
    return Series(
        delivered=sum(r.delivered for r in kept),
        retried=sum(r.retried for r in kept),
        dead=sum(r.dead for r in kept),
        skipped=sum(r.skipped for r in kept),
        deferred=sum(r.deferred for r in kept),
        total_ms=sum(r.total_ms for r in kept),
        max_ms=max((r.max_ms for r in kept), default=0.0),
        delivered_by_minute=tuple(r.delivered if r else 0 for r in timed),
        failed_by_minute=tuple(r.retried + r.dead if r else 0 for r in timed),
        mean_ms_by_minute=tuple(
            mean(r.total_ms, r.delivered + r.retried + r.dead) if r else None for r in timed
        ),
    )


Key = tuple[str, str, str | None, str]


def grouped(rows: Iterable[TrafficRow]) -> dict[Key, list[TrafficRow]]:
    groups: dict[Key, list[TrafficRow]] = {}
    for row in rows:
        groups.setdefault((row.adapter, row.instance, row.label, row.destination), []).append(row)
    return groups


def worst_first(entry: tuple[Key, Series]) -> tuple[float, int, str, str, str, str]:
    """The lowest success rate first, then the most failures; quiet ones (no verdict) last."""
    (adapter, instance, label, destination), found = entry
    rate = found.success_rate
    return (
        2.0 if rate is None else rate,
        -found.failed,
        adapter,
        instance,
        label or "",
        destination,
    )


def traffic(rows: Iterable[TrafficRow], window: Window) -> list[dict[str, Any]]:
    """Every destination with attempts in ``window``, the worst first, as the API answers it."""
    groups = grouped(rows)
    examples = {key: max(r.example for r in found) for key, found in groups.items()}
    summed = sorted(
        ((key, series(found, window)) for key, found in groups.items()), key=worst_first
    )
    return [
        {
            "adapter": adapter,
            "instance": instance or None,
            "label": label,
            "destination": examples[(adapter, instance, label, destination)],
            "delivered": found.delivered,
            "retried": found.retried,
            "dead": found.dead,
            "skipped": found.skipped,
            "deferred": found.deferred,
            "success_rate": found.success_rate,
            "mean_ms": found.mean_ms,
            "max_ms": found.max_ms,
            "delivered_by_minute": list(found.delivered_by_minute),
            "failed_by_minute": list(found.failed_by_minute),
            "mean_ms_by_minute": list(found.mean_ms_by_minute),
        }
        for (adapter, instance, label, destination), found in summed
    ]
