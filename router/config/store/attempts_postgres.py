"""Attempt records in the configuration store's PostgreSQL database, on the store's own pool.

The table comes from the store's migration 2 (``router.config.store.postgres``); ``at`` is a
``timestamptz`` there, written and read in the envelope's time format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from router.config.store.attempts import (
    COLUMNS,
    Attempt,
    AttemptPage,
    AttemptQuery,
    Prune,
    Stored,
)
from router.config.store.minutes import COLUMNS as MINUTE_COLUMNS
from router.config.store.minutes import (
    TrafficRow,
    in_key_order,
    loaded,
    minute_of,
    minute_rows,
    stored,
    upsert,
)
from schemas.timefmt import format_utc

# Rows removed per statement, so a large prune never holds one long transaction.
PRUNE_CHUNK: Final = 5000


def _moment(at: str) -> datetime:
    return datetime.fromisoformat(at)


class PostgresAttemptLog:
    def __init__(self, pool: Callable[[], Any], table: str, minutes: str) -> None:
        """``pool``: the store's pool once it is open; ``table``, ``minutes``: the quoted
        names of the records' table and of their per-minute sums'."""
        self._pool = pool
        self._table = table
        self._minutes = minutes
        placeholders = ", ".join(f"${n}" for n in range(1, len(COLUMNS) + 1))
        self._insert = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        values = ", ".join(f"${n}" for n in range(1, len(MINUTE_COLUMNS) + 1))
        self._add_minutes = upsert(minutes, f"VALUES ({values})", "GREATEST")

    async def add(self, attempts: Sequence[Attempt]) -> None:
        rows = [(*(getattr(a, c) for c in COLUMNS[:-1]), _moment(a.at)) for a in attempts]
        if not rows:
            return
        sums = [stored(row) for row in in_key_order(minute_rows(attempts))]
        async with self._pool().acquire() as connection, connection.transaction():
            await connection.executemany(self._insert, rows)
            await connection.executemany(self._add_minutes, sums)

    async def find(self, query: AttemptQuery) -> AttemptPage:
        clauses, params = where(query)
        params.append(query.limit + 1)
        rows = await self._pool().fetch(
            f"SELECT id, {', '.join(COLUMNS)} FROM {self._table} {clauses}"
            f" ORDER BY at DESC, id DESC LIMIT ${len(params)}",
            *params,
        )
        found = [
            Stored(row[0], Attempt(*[*row[1:-1], format_utc(row[-1])]))
            for row in rows[: query.limit]
        ]
        return AttemptPage(found, more=len(rows) > query.limit)

    async def traffic(self, since: str) -> list[TrafficRow]:
        rows = await self._pool().fetch(
            f"SELECT {', '.join(MINUTE_COLUMNS)} FROM {self._minutes} WHERE minute >= $1",
            minute_of(since),
        )
        return [loaded(row) for row in rows]

    async def prune(self, rule: Prune) -> int:
        table = self._table
        removed = await self._in_chunks(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE at < $1 LIMIT $2)",
            _moment(rule.older_than),
        )
        # The newest record beyond the bound: it and everything older go.
        edge = await self._pool().fetchrow(
            f"SELECT at, id FROM {table} ORDER BY at DESC, id DESC OFFSET $1 LIMIT 1",
            rule.keep_at_most,
        )
        if edge is not None:
            removed += await self._in_chunks(
                f"DELETE FROM {table} WHERE id IN"
                f" (SELECT id FROM {table} WHERE (at, id) <= ($1, $2) LIMIT $3)",
                edge[0],
                edge[1],
            )
        if rule.minutes_before:
            await self._pool().execute(
                f"DELETE FROM {self._minutes} WHERE minute < $1", rule.minutes_before
            )
        return removed

    async def _in_chunks(self, sql: str, *params: Any) -> int:
        total = 0
        while True:
            status = await self._pool().execute(sql, *params, PRUNE_CHUNK)
            removed = int(status.split()[-1])  # "DELETE <count>"
            total += removed
            if removed < PRUNE_CHUNK:
                return total


def where(query: AttemptQuery) -> tuple[str, list[Any]]:
    """The WHERE clause of ``query`` and its parameters (``$1``...); column names come from
    the fixed list of filters, values only ever travel as parameters."""
    clauses: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    for name, value in query.exact().items():
        clauses.append(f"{name} = {param(value)}")
    if query.since is not None:
        clauses.append(f"at >= {param(_moment(query.since))}")
    if query.until is not None:
        clauses.append(f"at <= {param(_moment(query.until))}")
    if query.before is not None:
        at, row = param(_moment(query.before.at)), param(query.before.row)
        clauses.append(f"(at, id) < ({at}, {row})")
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params
