"""Attempt records in the configuration store's SQLite file, on the store's own connection.

The table comes from the store's migration 2 (``router.config.store.sqlite``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol, TypeVar

import orjson

from router.config.store.attempts import (
    COLUMNS,
    Attempt,
    AttemptPage,
    AttemptQuery,
    Position,
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

T = TypeVar("T")
MINUTES: Final = "attempt_minutes"

# Rows removed per statement: a prune of many rows gives the connection back in between, so
# configuration reads and attempt writes are never held up for long.
PRUNE_CHUNK: Final = 5000

# A whole batch in one statement, the rows as one JSON array SQLite reads itself: a statement
# per row (executemany) hands the GIL back and forth with the event loop at every row, and a
# busy loop then starves the writer (tens of rows a second) and is slowed down by it.
_INSERT: Final = (
    f"INSERT INTO attempts ({', '.join(COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(COLUMNS)))
    + " FROM json_each(?)"
)
# The batch's per-minute sums the same way; ``WHERE true`` tells SQLite's parser that ON
# CONFLICT belongs to the INSERT.
_ADD_MINUTES: Final = upsert(
    MINUTES,
    "SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(MINUTE_COLUMNS)))
    + " FROM json_each(?) WHERE true",
    "max",
)


class Runner(Protocol):
    """Runs ``work`` on the store's connection, off the event loop (in a transaction, for
    the writer)."""

    def __call__(self, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]: ...


class SqliteAttemptLog:
    def __init__(self, read: Runner, write: Runner) -> None:
        self._read = read
        self._write = write

    async def add(self, attempts: Sequence[Attempt]) -> None:
        if not attempts:
            return
        rows = orjson.dumps([[getattr(a, c) for c in COLUMNS] for a in attempts]).decode()
        sums = orjson.dumps([stored(row) for row in in_key_order(minute_rows(attempts))]).decode()

        def insert(connection: sqlite3.Connection) -> None:
            connection.execute(_INSERT, (rows,))
            connection.execute(_ADD_MINUTES, (sums,))

        await self._write(insert)

    async def find(self, query: AttemptQuery) -> AttemptPage:
        clauses, params = where(query)
        sql = (
            f"SELECT id, {', '.join(COLUMNS)} FROM attempts {clauses}"
            " ORDER BY at DESC, id DESC LIMIT ?"
        )

        def read(connection: sqlite3.Connection) -> list[Any]:
            return connection.execute(sql, (*params, query.limit + 1)).fetchall()

        rows = await self._read(read)
        found = [Stored(row[0], Attempt(*row[1:])) for row in rows[: query.limit]]
        return AttemptPage(found, more=len(rows) > query.limit)

    async def traffic(self, since: str) -> list[TrafficRow]:
        sql = f"SELECT {', '.join(MINUTE_COLUMNS)} FROM {MINUTES} WHERE minute >= ?"

        def read(connection: sqlite3.Connection) -> list[Any]:
            return connection.execute(sql, (minute_of(since),)).fetchall()

        return [loaded(row) for row in await self._read(read)]

    async def prune(self, rule: Prune) -> int:
        removed = await self._in_chunks(
            "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE at < ? LIMIT ?)",
            (rule.older_than,),
        )

        def boundary(connection: sqlite3.Connection) -> Any:
            # The newest record beyond the bound: it and everything older go.
            return connection.execute(
                "SELECT at, id FROM attempts ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?",
                (rule.keep_at_most,),
            ).fetchone()

        edge = await self._read(boundary)
        if edge is not None:
            removed += await self._in_chunks(
                "DELETE FROM attempts WHERE id IN"
                " (SELECT id FROM attempts WHERE (at, id) <= (?, ?) LIMIT ?)",
                (edge[0], edge[1]),
            )
        if rule.minutes_before:

            def forget(connection: sqlite3.Connection) -> None:
                connection.execute(
                    f"DELETE FROM {MINUTES} WHERE minute < ?", (rule.minutes_before,)
                )

            await self._write(forget)
        return removed

    async def _in_chunks(self, sql: str, params: tuple[Any, ...]) -> int:
        def chunk(connection: sqlite3.Connection) -> int:
            return connection.execute(sql, (*params, PRUNE_CHUNK)).rowcount

        total = 0
        while (removed := await self._write(chunk)) > 0:
            total += removed
            if removed < PRUNE_CHUNK:
                break
        return total


def where(query: AttemptQuery) -> tuple[str, list[Any]]:
    """The WHERE clause of ``query`` and its parameters; column names come from the fixed
    list of filters, values only ever travel as parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for name, value in query.exact().items():
        clauses.append(f"{name} = ?")
        params.append(value)
    if query.since is not None:
        clauses.append("at >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("at <= ?")
        params.append(query.until)
    before: Position | None = query.before
    if before is not None:
        clauses.append("(at, id) < (?, ?)")
        params.extend((before.at, before.row))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params
