"""Per-minute sums of the attempt history, by destination: what the console's traffic view
reads. The SQLite and PostgreSQL stores keep them in a table of their own, added to in the
same transaction as the records they sum, so reading the last hour costs a row per destination
and minute however many attempts were made; their migration fills it from the records already
there. Both databases read the SQL here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from router.config.store.attempts import Attempt


@dataclass(frozen=True, slots=True)
class TrafficRow:
    """What one destination did in one minute. A labelled destination (a webhook) is its
    subscription: the global one across instances (``instance`` empty), a per-instance one by
    instance and label, whatever URLs it posted to; any other is its ``destination``.
    ``example``: one destination string of the group, for showing it. Durations add up the
    attempts whose request went out (delivered, retried or dead), not the skipped nor the
    deferred, which were never sent."""

    adapter: str
    instance: str
    label: str | None
    destination: str
    minute: str  # the ``at`` cut to the minute: 2026-01-02T03:04
    delivered: int
    retried: int
    dead: int
    skipped: int
    deferred: int
    total_ms: float
    max_ms: float
    example: str


COLUMNS: Final = tuple(f.name for f in fields(TrafficRow))
KEY: Final = ("minute", "adapter", "instance", "label", "destination")
SUMS: Final = ("delivered", "retried", "dead", "skipped", "deferred", "total_ms")
SENT: Final = ("delivered", "retry", "dead")  # the outcomes whose request went out


def minute_of(at: str) -> str:
    return at[:16]


def traffic_key(attempt: Attempt) -> tuple[str, str, str | None, str]:
    """The destination ``attempt`` counts for, as (adapter, instance, label, destination)."""
    label = attempt.label
    instance = "" if label is None or label == "global" else attempt.instance
    return attempt.adapter, instance, label, attempt.destination if label is None else ""


def minute_rows(attempts: Iterable[Attempt]) -> list[TrafficRow]:
    """``attempts`` summed by destination and minute."""
    groups: dict[tuple[str, str, str | None, str, str], list[Attempt]] = {}
    for attempt in attempts:
        groups.setdefault((*traffic_key(attempt), minute_of(attempt.at)), []).append(attempt)
    rows = []
    for key, found in groups.items():
        outcomes = [a.outcome for a in found]
        timed = [a.duration_ms for a in found if a.outcome in SENT]
        rows.append(
            TrafficRow(
                *key,
                delivered=outcomes.count("delivered"),
                retried=outcomes.count("retry"),
                dead=outcomes.count("dead"),
                skipped=outcomes.count("skipped"),
                deferred=outcomes.count("deferred"),
                total_ms=sum(timed),
                max_ms=max(timed, default=0.0),
                example=max(a.destination for a in found),
            )
        )
    return rows


def in_key_order(rows: Iterable[TrafficRow]) -> list[TrafficRow]:
    """Rows in the order of their table's key: writers that upsert in one order never wait on
    each other in a circle (PostgreSQL would abort one of them as a deadlock)."""
    return sorted(
        rows, key=lambda r: (r.minute, r.adapter, r.instance, r.label or "", r.destination)
    )


def stored(row: TrafficRow) -> list[object]:
    """The row as its table holds it, in ``COLUMNS`` order: no label is an empty one, so the
    key has no null in it."""
    return [row.label or "" if name == "label" else getattr(row, name) for name in COLUMNS]


def loaded(values: Iterable[Any]) -> TrafficRow:
    """A row as its table held it (``COLUMNS`` order)."""
    row = TrafficRow(*values)
    return row if row.label else replace(row, label=None)


def upsert(table: str, rows_sql: str, greatest: str) -> str:
    """Adds the rows ``rows_sql`` selects (in ``COLUMNS`` order) to ``table``; ``greatest``:
    the database's two-argument maximum."""
    added = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in SUMS)
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) {rows_sql}"
        f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {added},"
        f" max_ms = {greatest}({table}.max_ms, excluded.max_ms),"
        f" example = {greatest}({table}.example, excluded.example)"
    )


def table_sql(table: str, text: str, real: str) -> str:
    """The table, in the database's words for text and floating point."""
    counts = ", ".join(f"{name} INTEGER NOT NULL" for name in SUMS[:-1])
    return (
        f"CREATE TABLE {table} (adapter {text} NOT NULL, instance {text} NOT NULL,"
        f" label {text} NOT NULL, destination {text} NOT NULL, minute {text} NOT NULL,"
        f" {counts}, total_ms {real} NOT NULL, max_ms {real} NOT NULL,"
        f" example {text} NOT NULL, PRIMARY KEY ({', '.join(KEY)}))"
    )


def backfill_sql(table: str, attempts: str, minute: str, recent: str) -> str:
    """Sums the records already in ``attempts`` into ``table``: ``minute`` cuts a record's
    ``at`` to its minute, ``recent`` picks the records worth summing."""
    sent = "(" + ", ".join(f"'{outcome}'" for outcome in SENT) + ")"
    counts = ", ".join(
        f"SUM(CASE WHEN outcome = '{outcome}' THEN 1 ELSE 0 END)"
        for outcome in ("delivered", "retry", "dead", "skipped", "deferred")
    )
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)})"
        " SELECT adapter,"
        " CASE WHEN label IS NULL OR label = 'global' THEN '' ELSE instance END,"
        " COALESCE(label, ''), CASE WHEN label IS NULL THEN destination ELSE '' END,"
        f" {minute}, {counts},"
        f" COALESCE(SUM(CASE WHEN outcome IN {sent} THEN duration_ms END), 0),"
        f" COALESCE(MAX(CASE WHEN outcome IN {sent} THEN duration_ms END), 0),"
        f" MAX(destination) FROM {attempts} WHERE {recent} GROUP BY 1, 2, 3, 4, 5"
    )
