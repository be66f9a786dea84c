"""What the console's traffic view costs the database: ``AttemptLog.traffic`` (every destination's
attempts of the last 15 minutes, summed by minute) on SQLite and PostgreSQL holding a busy
router's history, beside a raw baseline in the same run: counting the same window's rows
(``SELECT count(*) ... WHERE at >= ?``), the least a summary of the records themselves would
read. And what keeping the per-minute sums costs each write: ``add`` of batches of 500 beside
the same batches inserted into the records' table alone, on a store of its own.

    .venv/bin/python bench/traffic.py [--rows 300000] [--destinations 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from rich.console import Console
from rich.table import Table

from router.config.store import ConfigStore
from router.config.store.attempts import COLUMNS, OUTCOMES, Attempt
from router.history.traffic import Window
from schemas.timefmt import format_utc
from tests.support.databases import opened_store

WINDOW_MINUTES = 15
BATCH = 5000
WRITE_BATCH = 500  # the recorder's default batch
WRITE_ROWS = 50_000


def history(rows: int, destinations: int, now: datetime) -> list[Attempt]:
    """``rows`` attempts spread evenly over the last window, across ``destinations``
    per-instance webhooks, most delivered, some retried, a few dead or deferred."""
    span = timedelta(minutes=WINDOW_MINUTES).total_seconds()
    found = []
    for n in range(rows):
        at = now - timedelta(seconds=span * n / rows)
        instance = f"tenant-{n % destinations}"
        outcome = OUTCOMES[0] if n % 10 else OUTCOMES[n // 10 % len(OUTCOMES)]
        found.append(
            Attempt(
                event_id=f"0193b0c2-7c1e-7a4e-9f4e-{n:012x}",
                instance=instance,
                event="messages.upsert",
                adapter="webhook",
                destination=f"https://{instance}.example/hook",
                label="crm",
                attempt=1,
                outcome=outcome,
                status=200 if outcome == "delivered" else 503,
                duration_ms=float(20 + n % 200),
                error=None,
                response="ok",
                at=format_utc(at),
            )
        )
    return found


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """The median of ``repeat`` runs, in milliseconds."""
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


async def raw_count(store: ConfigStore, since: str) -> int:
    """The baseline: the window's rows counted, on the store's own connection."""
    from router.config.store import PostgresStore, SqliteStore

    if isinstance(store, SqliteStore):
        found = await store._run(
            lambda c: c.execute("SELECT count(*) FROM attempts WHERE at >= ?", (since,)).fetchone()
        )
        return int(found[0])
    assert isinstance(store, PostgresStore)
    table = f'"{store.attempts_table}"'
    moment = datetime.fromisoformat(since)
    value = await store._ready().fetchval(f"SELECT count(*) FROM {table} WHERE at >= $1", moment)
    return int(value)


async def insert_only(store: ConfigStore, batch: list[Attempt]) -> None:
    """The write baseline: the batch into the records' table, as ``add`` writes it there."""
    from router.config.store import PostgresStore, SqliteStore
    from router.config.store.attempts_sqlite import _INSERT

    if isinstance(store, SqliteStore):
        rows = orjson.dumps([[getattr(a, c) for c in COLUMNS] for a in batch]).decode()
        await store._write(lambda c: c.execute(_INSERT, (rows,)))
        return
    assert isinstance(store, PostgresStore)
    values = [(*(getattr(a, c) for c in COLUMNS[:-1]), datetime.fromisoformat(a.at)) for a in batch]
    async with store._ready().acquire() as connection, connection.transaction():
        await connection.executemany(store.attempts._insert, values)


async def written(kind: str, records: list[Attempt], raw: bool) -> float:
    """Records written a second, in batches of ``WRITE_BATCH``."""
    with tempfile.TemporaryDirectory() as directory:
        async with opened_store(kind, Path(directory)) as store:
            started = time.perf_counter()
            for start in range(0, len(records), WRITE_BATCH):
                batch = records[start : start + WRITE_BATCH]
                await (insert_only(store, batch) if raw else store.attempts.add(batch))
            return len(records) / (time.perf_counter() - started)


async def measure(kind: str, rows: int, destinations: int, repeat: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    window = Window.ending(now, WINDOW_MINUTES)
    records = history(rows, destinations, now)
    writes = records[:WRITE_ROWS]
    raw_rate = await written(kind, writes, raw=True)
    add_rate = await written(kind, writes, raw=False)
    with tempfile.TemporaryDirectory() as directory:
        async with opened_store(kind, Path(directory)) as store:
            for start in range(0, rows, BATCH):
                await store.attempts.add(records[start : start + BATCH])
            counted = await raw_count(store, window.since)
            summed = await store.attempts.traffic(window.since)
            raw_ms = await timed(lambda: raw_count(store, window.since), repeat)
            traffic_ms = await timed(lambda: store.attempts.traffic(window.since), repeat)
    return {
        "store": kind,
        "rows": counted,
        "groups": len(summed),
        "raw_rate": raw_rate,
        "add_rate": add_rate,
        "raw_ms": raw_ms,
        "traffic_ms": traffic_ms,
    }


async def run(rows: int, destinations: int, repeat: int) -> None:
    table = Table(title=f"traffic over {WINDOW_MINUTES} minutes, median of {repeat}")
    columns = (
        "store",
        "rows in window",
        "minute rows",
        "raw count",
        "traffic",
        "ratio",
        "insert only",
        "add with sums",
        "ratio ",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "store" else "right")
    for kind in ("sqlite", "postgres"):
        found = await measure(kind, rows, destinations, repeat)
        table.add_row(
            kind,
            f"{found['rows']:,}",
            f"{found['groups']:,}",
            f"{found['raw_ms']:.0f} ms",
            f"{found['traffic_ms']:.0f} ms",
            f"{found['traffic_ms'] / max(found['raw_ms'], 0.001):.1f}x",
            f"{found['raw_rate']:,.0f}/s",
            f"{found['add_rate']:,.0f}/s",
            f"{found['add_rate'] / found['raw_rate']:.2f}x",
        )
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--destinations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.destinations, args.repeat))


if __name__ == "__main__":
    main()
