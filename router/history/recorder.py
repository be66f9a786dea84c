"""The recorder: attempt records wait in a bounded buffer and a background task writes them in
batches, so recording is one append on the delivery's path and never a wait. A failed write
keeps its batch for the next round; a full buffer drops its oldest records, counted. A second
task prunes by age and size, at start and then periodically."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Counter

from router.config.settings import RouterSettings
from router.config.store.attempts import Attempt, AttemptLog
from router.history.decisions import batch_size, flush_due, overflow, prune_rule
from router.logging import get_logger

log = get_logger("router.history")

WRITTEN = Counter("router_history_written_total", "Delivery attempt records written")
DROPPED = Counter(
    "router_history_dropped_total",
    "Delivery attempt records dropped unwritten: the buffer was full, or the router stopped",
)
FAILURES = Counter(
    "router_history_failures_total",
    "Failed writes and prunes of the delivery attempt history",
    ["operation"],
)
PRUNED = Counter("router_history_pruned_total", "Delivery attempt records removed by pruning")


class Sink(Protocol):
    """Where the delivery runtime hands each attempt record; it must never wait."""

    def record(self, attempt: Attempt) -> None: ...


class Recorder:
    def __init__(
        self,
        attempts: AttemptLog,
        *,
        batch: int = 500,
        flush_seconds: float = 1.0,
        capacity: int = 20_000,
        retention_hours: float = 168.0,
        max_rows: int = 1_000_000,
        prune_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.attempts = attempts
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.capacity = capacity
        self.retention_hours = retention_hours
        self.max_rows = max_rows
        self.prune_seconds = prune_seconds
        self.clock = clock
        self._waiting: deque[Attempt] = deque()
        self._wake = asyncio.Event()
        self._last_write = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @classmethod
    def from_settings(cls, settings: RouterSettings, attempts: AttemptLog) -> Recorder:
        return cls(
            attempts,
            batch=settings.history_batch,
            flush_seconds=settings.history_flush_seconds,
            capacity=settings.history_buffer_rows,
            retention_hours=settings.history_retention_hours,
            max_rows=settings.history_max_rows,
            prune_seconds=settings.history_prune_seconds,
        )

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def record(self, attempt: Attempt) -> None:
        if self._closing:
            DROPPED.inc()
            return
        self._waiting.append(attempt)
        self._trim()
        if len(self._waiting) >= self.batch:
            self._wake.set()

    async def start(self) -> None:
        if not self._tasks:
            self._closing = False
            self._tasks = [
                asyncio.create_task(self._flushing(), name="history-flush"),
                asyncio.create_task(self._pruning(), name="history-prune"),
            ]

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the tasks, then write what is left; what cannot be written within ``timeout``
        is dropped and counted, so shutdown never hangs on the database."""
        self._closing = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(timeout):
                while self._waiting and await self._write_batch():
                    pass
        except TimeoutError:
            pass
        if self._waiting:
            log.error("history.lost_at_shutdown", records=len(self._waiting))
            DROPPED.inc(len(self._waiting))
            self._waiting.clear()

    async def flush(self) -> None:
        """Write every batch that is due now."""
        while flush_due(
            len(self._waiting), self.batch, time.monotonic() - self._last_write, self.flush_seconds
        ):
            if not await self._write_batch():
                # The database refused: wait a whole interval before the next try, however
                # many records arrive meanwhile.
                await asyncio.sleep(self.flush_seconds)
                return

    async def prune(self) -> int:
        rule = prune_rule(self.clock(), self.retention_hours, self.max_rows)
        try:
            removed = await self.attempts.prune(rule)
        except Exception as exc:
            FAILURES.labels(operation="prune").inc()
            log.error("history.prune_failed", error=f"{type(exc).__name__}: {exc}")
            return 0
        if removed:
            PRUNED.inc(removed)
            log.info("history.pruned", records=removed, older_than=rule.older_than)
        return removed

    async def _flushing(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_seconds):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def _pruning(self) -> None:
        while True:
            await self.prune()
            await asyncio.sleep(self.prune_seconds)

    async def _write_batch(self) -> bool:
        rows = [self._waiting.popleft() for _ in range(batch_size(len(self._waiting), self.batch))]
        try:
            await self.attempts.add(rows)
        except asyncio.CancelledError:
            self._put_back(rows)
            raise
        except Exception as exc:
            self._put_back(rows)
            FAILURES.labels(operation="write").inc()
            log.error(
                "history.write_failed",
                records=len(rows),
                waiting=len(self._waiting),
                error=f"{type(exc).__name__}: {exc}",
            )
            return False
        self._last_write = time.monotonic()
        WRITTEN.inc(len(rows))
        return True

    def _put_back(self, rows: Sequence[Attempt]) -> None:
        """A batch not written goes back in front, the oldest first, within the bound."""
        self._waiting.extendleft(reversed(rows))
        self._trim()

    def _trim(self) -> None:
        drop = overflow(len(self._waiting), self.capacity)
        for _ in range(drop):
            self._waiting.popleft()
        if drop:
            DROPPED.inc(drop)
