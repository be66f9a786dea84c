"""The recorder carrying its decisions out: it never makes a delivery wait, writes whole
batches at once and the rest each interval, keeps a batch the database refused, drops the
oldest when full, writes what is left at shutdown, and prunes a real database by age and by
row bound with time scaled down through the settings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from router.config.settings import RouterSettings
from router.config.store import ConfigStore, MemoryAttemptLog
from router.config.store.attempts import Attempt, AttemptQuery
from router.history import Recorder
from schemas.timefmt import format_utc, utc_now
from tests.support.attempts import attempt
from tests.support.databases import opened_store

RECORD = attempt(event="call", destination="http://127.0.0.1/hook", duration_ms=1.0, at="")


def numbered(n: int, at: str | None = None) -> Attempt:
    """Record ``n``, of now unless said otherwise: older ones would be pruned at start."""
    return replace(RECORD, attempt=n, at=at or utc_now())


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def written(log: MemoryAttemptLog) -> list[int]:
    page = await log.find(AttemptQuery(limit=10_000))
    return sorted(stored.attempt.attempt for stored in page.attempts)


class FlakyLog(MemoryAttemptLog):
    """Refuses writes while ``down``; with ``hang``, a write never returns."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.hang = False
        self.tries = 0

    async def add(self, attempts: Sequence[Attempt]) -> None:
        self.tries += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise ConnectionRefusedError("database down")
        await super().add(attempts)


@pytest.fixture
async def flaky() -> FlakyLog:
    return FlakyLog()


async def test_a_full_buffer_drops_its_oldest_and_counts_them(flaky: FlakyLog) -> None:
    recorder = Recorder(flaky, capacity=3, batch=100, flush_seconds=60)
    before = sample("router_history_dropped_total")
    for n in range(1, 6):
        recorder.record(numbered(n))
    assert recorder.waiting == 3
    assert sample("router_history_dropped_total") - before == 2
    await recorder.close()
    assert await written(flaky) == [3, 4, 5]


async def test_recording_never_waits_for_a_database_that_hangs(flaky: FlakyLog) -> None:
    flaky.hang = True
    recorder = Recorder(flaky, capacity=1000, batch=10, flush_seconds=0.01)
    await recorder.start()
    try:
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        for n in range(20_000):
            recorder.record(numbered(n))
        assert time.perf_counter() - started < 1.0
        assert recorder.waiting <= 1000
    finally:
        await recorder.close(timeout=0.2)
    assert recorder.waiting == 0


async def test_a_whole_batch_is_written_at_once() -> None:
    log = MemoryAttemptLog()
    recorder = Recorder(log, batch=3, flush_seconds=60)
    await recorder.start()
    try:
        for n in range(1, 4):
            recorder.record(numbered(n))

        async def three() -> bool:
            return await written(log) == [1, 2, 3]

        await eventually(three, timeout=2)
    finally:
        await recorder.close()


async def test_less_than_a_batch_waits_for_the_interval() -> None:
    log = MemoryAttemptLog()
    slow = Recorder(log, batch=100, flush_seconds=60)
    await slow.start()
    try:
        slow.record(numbered(1))
        await asyncio.sleep(0.3)
        assert await written(log) == []
    finally:
        await slow.close()
    assert await written(log) == [1]  # written at shutdown

    quick_log = MemoryAttemptLog()
    quick = Recorder(quick_log, batch=100, flush_seconds=0.1)
    await quick.start()
    try:
        quick.record(numbered(2))

        async def one() -> bool:
            return await written(quick_log) == [2]

        await eventually(one, timeout=2)
    finally:
        await quick.close()


async def test_a_refused_batch_is_kept_and_written_once_the_database_answers(
    flaky: FlakyLog,
) -> None:
    flaky.down = True
    failures = sample("router_history_failures_total", operation="write")
    recorder = Recorder(flaky, batch=2, flush_seconds=0.05)
    await recorder.start()
    try:
        recorder.record(numbered(1))
        recorder.record(numbered(2))

        async def refused_twice() -> bool:
            return flaky.tries >= 2

        await eventually(refused_twice)
        assert recorder.waiting == 2
        assert sample("router_history_failures_total", operation="write") - failures >= 2
        flaky.down = False

        async def both() -> bool:
            return await written(flaky) == [1, 2]

        await eventually(both)
    finally:
        await recorder.close()
    assert await written(flaky) == [1, 2]  # once each


async def test_a_refused_batch_stays_within_the_bound(flaky: FlakyLog) -> None:
    flaky.down = True
    recorder = Recorder(flaky, capacity=3, batch=3, flush_seconds=0.05)
    await recorder.start()
    try:
        for n in range(1, 4):
            recorder.record(numbered(n))

        async def refused() -> bool:
            return flaky.tries >= 1 and recorder.waiting == 3

        await eventually(refused)
        recorder.record(numbered(4))
        recorder.record(numbered(5))
        assert recorder.waiting == 3
        flaky.down = False
    finally:
        await recorder.close()
    assert await written(flaky) == [3, 4, 5]


async def test_what_cannot_be_written_at_shutdown_is_counted(flaky: FlakyLog) -> None:
    flaky.hang = True
    recorder = Recorder(flaky, batch=100, flush_seconds=60)
    before = sample("router_history_dropped_total")
    for n in range(4):
        recorder.record(numbered(n))
    started = time.monotonic()
    await recorder.close(timeout=0.2)
    assert time.monotonic() - started < 2
    assert sample("router_history_dropped_total") - before == 4
    recorder.record(numbered(9))  # after close: counted, not kept
    assert recorder.waiting == 0
    assert sample("router_history_dropped_total") - before == 5


# --- pruning a real database ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConfigStore]:
    async with opened_store(request.param, tmp_path) as opened:
        yield opened


async def stored_attempts(store: ConfigStore) -> list[int]:
    page = await store.attempts.find(AttemptQuery(limit=10_000))
    return sorted(stored.attempt.attempt for stored in page.attempts)


async def test_records_past_the_retention_are_pruned(store: ConfigStore) -> None:
    # Two seconds of retention, looked at five times a second.
    settings = RouterSettings(
        history_retention_hours=2 / 3600, history_prune_seconds=0.2, history_flush_seconds=0.05
    )
    recorder = Recorder.from_settings(settings, store.attempts)
    await recorder.start()
    try:
        for n in range(1, 4):
            recorder.record(numbered(n, at=utc_now()))

        async def old_written() -> bool:
            return await stored_attempts(store) == [1, 2, 3]

        await eventually(old_written)
        await asyncio.sleep(1.0)
        for n in range(4, 6):
            recorder.record(numbered(n, at=utc_now()))

        async def only_young_left() -> bool:
            return await stored_attempts(store) == [4, 5]

        async def none_left() -> bool:
            return await stored_attempts(store) == []

        # The first three pass their two seconds a second before the young two do.
        await eventually(only_young_left, timeout=5)
        await eventually(none_left, timeout=5)
    finally:
        await recorder.close()


async def test_records_beyond_the_row_bound_are_pruned_oldest_first(store: ConfigStore) -> None:
    settings = RouterSettings(
        history_max_rows=5, history_prune_seconds=0.1, history_flush_seconds=0.05
    )
    recorder = Recorder.from_settings(settings, store.attempts)
    now = datetime.now(UTC)
    await recorder.start()
    try:
        for n in range(1, 9):
            recorder.record(numbered(n, at=format_utc(now.replace(microsecond=n * 1000))))

        async def newest_five() -> bool:
            return await stored_attempts(store) == [4, 5, 6, 7, 8]

        await eventually(newest_five)
    finally:
        await recorder.close()
