"""The attempt history's storage contract, run unchanged against the in-memory double, SQLite
and PostgreSQL: records come back whole and newest first, filters narrow, pages follow each
other exactly, and a prune removes what its rule says and nothing else."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

import router.config.store.attempts_postgres
import router.config.store.attempts_sqlite
import router.config.store.postgres
import router.config.store.sqlite
from router.config.store import ConfigStore, PostgresStore, SqliteStore
from router.config.store.attempts import (
    COLUMNS,
    Attempt,
    AttemptLog,
    AttemptQuery,
    Position,
    Prune,
    Stored,
    survivors,
)
from router.config.store.postgres import MIGRATIONS as postgres_migrations
from router.config.store.sqlite import MIGRATIONS as sqlite_migrations
from schemas.timefmt import format_utc
from tests.support.attempts import attempt
from tests.support.databases import POSTGRES_URL, drop_prefix, opened_store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConfigStore]:
    async with opened_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def log(store: ConfigStore) -> AttemptLog:
    return store.attempts


async def everything(log: AttemptLog) -> list[Attempt]:
    page = await log.find(AttemptQuery(limit=10_000))
    return [stored.attempt for stored in page.attempts]


async def test_records_come_back_whole_and_newest_first(log: AttemptLog) -> None:
    first = attempt(1)
    second = attempt(
        2,
        instance="Loja Centro ü",
        adapter="sqs",
        destination="shop-messages_upsert",
        label=None,
        attempt=3,
        outcome="retry",
        status=None,
        duration_ms=0.1,
        error="SQS unreachable: ConnectionError",
        response=None,
    )
    await log.add([first, second])
    assert await everything(log) == [second, first]


async def test_ties_within_a_millisecond_go_by_writing_order(log: AttemptLog) -> None:
    records = [attempt(5, millis=123, attempt=n) for n in range(1, 4)]
    await log.add(records)
    assert [a.attempt for a in await everything(log)] == [3, 2, 1]


async def test_an_empty_batch_writes_nothing(log: AttemptLog) -> None:
    await log.add([])
    assert await everything(log) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("event_id", "0193b0c2-0000-7000-8000-000000000001"),
        ("instance", "other"),
        ("destination", "https://user:***@other.example/h"),
        ("outcome", "dead"),
        ("adapter", "pusher"),
        ("label", "crm"),
    ],
)
async def test_each_filter_keeps_only_its_matches(log: AttemptLog, name: str, value: str) -> None:
    only: dict[str, Any] = {name: value}
    wanted = attempt(2, **only)
    await log.add([attempt(1), wanted, attempt(3)])
    page = await log.find(AttemptQuery(**only))
    assert [s.attempt for s in page.attempts] == [wanted]
    assert not page.more


async def test_filters_combine(log: AttemptLog) -> None:
    both = attempt(3, instance="a", outcome="dead")
    await log.add([attempt(1, instance="a"), attempt(2, outcome="dead"), both])
    page = await log.find(AttemptQuery(instance="a", outcome="dead"))
    assert [s.attempt for s in page.attempts] == [both]


async def test_since_and_until_are_inclusive(log: AttemptLog) -> None:
    records = [attempt(n) for n in range(1, 6)]
    await log.add(records)
    page = await log.find(AttemptQuery(since=records[1].at, until=records[3].at))
    assert [s.attempt for s in page.attempts] == [records[3], records[2], records[1]]


async def test_pages_follow_each_other_exactly(log: AttemptLog) -> None:
    # Ties at one millisecond across page boundaries: the row id decides.
    records = [attempt(n // 3, millis=7, attempt=n) for n in range(23)]
    await log.add(records)
    seen: list[Attempt] = []
    before: Position | None = None
    pages = 0
    while True:
        page = await log.find(AttemptQuery(before=before, limit=5))
        pages += 1
        seen.extend(s.attempt for s in page.attempts)
        if page.next is None:
            break
        assert page.more
        before = page.next
    assert pages == 5
    assert seen == list(reversed(records))


async def test_records_written_meanwhile_do_not_shift_the_next_page(log: AttemptLog) -> None:
    await log.add([attempt(n) for n in range(10)])
    first = await log.find(AttemptQuery(limit=4))
    await log.add([attempt(30), attempt(31)])
    second = await log.find(AttemptQuery(before=first.next, limit=4))
    assert [s.attempt.at[17:19] for s in second.attempts] == ["05", "04", "03", "02"]


async def test_a_full_last_page_says_there_is_no_more(log: AttemptLog) -> None:
    await log.add([attempt(n) for n in range(4)])
    page = await log.find(AttemptQuery(limit=4))
    assert len(page.attempts) == 4
    assert not page.more
    assert page.next is None


async def test_prune_removes_what_is_older_than_the_retention(log: AttemptLog) -> None:
    await log.add([attempt(n) for n in range(10)])
    removed = await log.prune(Prune(older_than=attempt(4).at, keep_at_most=1000))
    assert removed == 4
    assert [a.at[17:19] for a in await everything(log)] == ["09", "08", "07", "06", "05", "04"]


async def test_prune_keeps_the_newest_within_the_bound(log: AttemptLog) -> None:
    # Five of the same millisecond: the bound cuts among them by writing order.
    records = [attempt(1, millis=500, attempt=n) for n in range(5)] + [attempt(2), attempt(3)]
    await log.add(records)
    removed = await log.prune(Prune(older_than="2000-01-01T00:00:00.000Z", keep_at_most=4))
    assert removed == 3
    assert await everything(log) == [records[6], records[5], records[4], records[3]]
    assert await log.prune(Prune(older_than="2000-01-01T00:00:00.000Z", keep_at_most=4)) == 0


async def test_prune_applies_age_and_bound_together(log: AttemptLog) -> None:
    await log.add([attempt(n) for n in range(10)])
    removed = await log.prune(Prune(older_than=attempt(3).at, keep_at_most=5))
    assert removed == 5
    assert [a.at[17:19] for a in await everything(log)] == ["09", "08", "07", "06", "05"]


async def test_a_large_prune_runs_in_chunks_and_removes_it_all(
    log: AttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (router.config.store.attempts_sqlite, router.config.store.attempts_postgres):
        monkeypatch.setattr(module, "PRUNE_CHUNK", 3)
    await log.add([attempt(n) for n in range(20)])
    assert await log.prune(Prune(older_than=attempt(7).at, keep_at_most=6)) == 14
    assert [a.at[17:19] for a in await everything(log)] == ["19", "18", "17", "16", "15", "14"]


def test_survivors_is_the_rule_itself() -> None:
    rows = [Stored(n, attempt(n % 4)) for n in range(1, 9)]
    kept = survivors(rows, Prune(older_than=attempt(1).at, keep_at_most=3))
    assert [(s.attempt.at[17:19], s.row) for s in kept] == [("02", 6), ("03", 3), ("03", 7)]
    assert survivors(rows, Prune(older_than=attempt(0).at, keep_at_most=0)) == []


# --- the schema ------------------------------------------------------------------------------


async def test_sqlite_migration_creates_the_table_and_its_indexes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "router.sqlite3")
    await store.open()
    await store.close()
    with closing(sqlite3.connect(tmp_path / "router.sqlite3")) as connection:
        names = {
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE tbl_name = 'attempts'"
            )
        }
    assert names >= {
        "attempts",
        "attempts_at",
        "attempts_event",
        "attempts_instance",
        "attempts_destination",
    }


async def test_postgres_names_derive_from_the_prefix(tmp_path: Path) -> None:
    async with opened_store("postgres", tmp_path) as store:
        assert isinstance(store, PostgresStore)
        assert store.attempts_table == f"{store.prefix}attempts"
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            rows = await connection.fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = $1", store.attempts_table
            )
        finally:
            await connection.close()
    suffixes = {row[0].removeprefix(store.prefix) for row in rows}
    assert suffixes >= {"attempts_at", "attempts_ev", "attempts_in", "attempts_ds"}


async def test_traffic_sums_each_destination_by_minute(log: AttemptLog) -> None:
    hook = "https://crm.example/hook"
    await log.add(
        [
            # The global webhook: every instance and every URL it posted to count together.
            attempt(1, destination=f"{hook}/messages-upsert", duration_ms=10.0),
            attempt(2, instance="other", destination=f"{hook}/qrcode-updated", duration_ms=30.0),
            attempt(3, outcome="retry", status=503, duration_ms=50.0),
            attempt(4, outcome="skipped", duration_ms=999.0),
            attempt(4, millis=1, outcome="deferred", status=None, duration_ms=888.0),
            # A per-instance webhook: by instance and label.
            attempt(5, label="crm", outcome="dead", status=410, duration_ms=5.0),
            attempt(6, label="crm", instance="other", duration_ms=7.0),
            # Unlabelled adapters: by destination, whatever the instance.
            attempt(7, adapter="sqs", label=None, destination="q1", duration_ms=2.0),
            attempt(8, adapter="sqs", label=None, destination="q1", instance="b"),
            # The next minute, and one before the window.
            replace(attempt(9, duration_ms=20.0), at="2026-01-02T03:05:09.000Z"),
            replace(attempt(10), at="2026-01-02T03:03:59.999Z"),
        ]
    )
    rows = await log.traffic("2026-01-02T03:04:00.000Z")
    found = {(r.adapter, r.instance, r.label, r.destination, r.minute): r for r in rows}
    assert set(found) == {
        ("webhook", "", "global", "", "2026-01-02T03:04"),
        ("webhook", "", "global", "", "2026-01-02T03:05"),
        ("webhook", "shop", "crm", "", "2026-01-02T03:04"),
        ("webhook", "other", "crm", "", "2026-01-02T03:04"),
        ("sqs", "", None, "q1", "2026-01-02T03:04"),
    }
    first = found[("webhook", "", "global", "", "2026-01-02T03:04")]
    assert (first.delivered, first.retried, first.dead, first.skipped) == (2, 1, 0, 1)
    assert first.deferred == 1
    assert (first.total_ms, first.max_ms) == (90.0, 50.0)  # only what was sent is timed
    assert first.example == f"{hook}/qrcode-updated"
    crm = found[("webhook", "shop", "crm", "", "2026-01-02T03:04")]
    assert (crm.delivered, crm.dead, crm.total_ms) == (0, 1, 5.0)
    sqs = found[("sqs", "", None, "q1", "2026-01-02T03:04")]
    assert (sqs.delivered, sqs.total_ms, sqs.example) == (2, 14.5, "q1")
    later = found[("webhook", "", "global", "", "2026-01-02T03:05")]
    assert (later.delivered, later.total_ms) == (1, 20.0)


async def test_traffic_of_an_empty_window_is_empty(log: AttemptLog) -> None:
    await log.add([attempt(1)])
    assert await log.traffic("2026-01-02T03:05:00.000Z") == []


# --- per-minute sums ---------------------------------------------------------------------------


async def test_a_prune_forgets_the_sums_of_minutes_before_its_bound(log: AttemptLog) -> None:
    await log.add([attempt(1), replace(attempt(2), at="2026-01-02T03:05:02.000Z")])
    rule = Prune(older_than="0001-01-01T00:00:00.000Z", keep_at_most=100)
    await log.prune(replace(rule, minutes_before="2026-01-02T03:05"))
    assert [r.minute for r in await log.traffic("2026-01-02T03:00:00.000Z")] == ["2026-01-02T03:05"]
    assert len(await everything(log)) == 2  # the records themselves stay


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_the_sums_outlive_records_pruned_by_count(kind: str, tmp_path: Path) -> None:
    async with opened_store(kind, tmp_path) as store:
        await store.attempts.add([attempt(n) for n in range(10)])
        await store.attempts.prune(Prune(older_than=attempt(0).at, keep_at_most=2))
        assert len(await everything(store.attempts)) == 2
        (row,) = await store.attempts.traffic("2026-01-02T03:04:00.000Z")
        assert row.delivered == 10  # the last minutes are counted whatever the row bound


def now_attempts() -> list[Attempt]:
    """Two records of this minute and one of three hours ago, older than a backfill reaches."""
    now = datetime.now(UTC)
    return [
        attempt(0, at=format_utc(now)),
        attempt(0, outcome="dead", at=format_utc(now)),
        attempt(0, at=format_utc(now - timedelta(hours=3))),
    ]


async def test_sqlite_migration_sums_the_last_hours_already_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "router.sqlite3"
    monkeypatch.setattr(router.config.store.sqlite, "MIGRATIONS", sqlite_migrations[:2])
    earlier = SqliteStore(path)
    await earlier.open()
    await earlier.close()
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            f"INSERT INTO attempts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [[getattr(a, c) for c in COLUMNS] for a in now_attempts()],
        )
    monkeypatch.setattr(router.config.store.sqlite, "MIGRATIONS", sqlite_migrations)
    store = SqliteStore(path)
    await store.open()
    try:
        await backfilled(store.attempts)
    finally:
        await store.close()


async def test_postgres_migration_sums_the_last_hours_already_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router.config.store.postgres, "MIGRATIONS", postgres_migrations[:2])
    prefix = f"t_{uuid.uuid4().hex[:16]}_"
    earlier = PostgresStore(POSTGRES_URL, prefix=prefix)
    try:
        await earlier.open()
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            await connection.executemany(
                f'INSERT INTO "{prefix}attempts" ({", ".join(COLUMNS)}) VALUES'
                f" ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})",
                [
                    [*(getattr(a, c) for c in COLUMNS[:-1]), datetime.fromisoformat(a.at)]
                    for a in now_attempts()
                ],
            )
        finally:
            await connection.close()
        await earlier.close()
        monkeypatch.setattr(router.config.store.postgres, "MIGRATIONS", postgres_migrations)
        store = PostgresStore(POSTGRES_URL, prefix=prefix)
        await store.open()
        try:
            await backfilled(store.attempts)
        finally:
            await store.close()
    finally:
        await drop_prefix(prefix)


async def backfilled(log: AttemptLog) -> None:
    since = format_utc(datetime.now(UTC) - timedelta(hours=6))
    (row,) = await log.traffic(since)  # the one of three hours ago is not summed
    assert (row.delivered, row.dead, row.label) == (1, 1, "global")
