"""Configuration documents in one SQLite file, which several router processes on the same host
may share. Their secrets are sealed on the way in and opened on the way out
(``router.config.secrets``)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, TypeVar

import orjson

from router.config.secrets import Review, Sealer
from router.config.store import minutes
from router.config.store.attempts_sqlite import MINUTES, SqliteAttemptLog
from router.config.store.base import Change, report_review
from schemas.instance_config import InstanceConfig
from schemas.timefmt import utc_now

T = TypeVar("T")

Migration = tuple[int, tuple[str, ...]]

# Each entry takes the schema from the version before it to its own and is applied in one
# transaction. Only ever append: a file written by any earlier release is brought forward by
# the entries it has not seen yet.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    (
        1,
        (
            """
            CREATE TABLE instance_config (
                instance TEXT PRIMARY KEY,
                document TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
        ),
    ),
    (
        2,
        (
            # The delivery attempt history (router.config.store.attempts_sqlite). ``at`` is
            # the envelope's time format, whose text order is its time order; every listing
            # is newest first on (at, id), alone or after one exact filter.
            """
            CREATE TABLE attempts (
                id INTEGER PRIMARY KEY,
                event_id TEXT NOT NULL,
                instance TEXT NOT NULL,
                event TEXT NOT NULL,
                adapter TEXT NOT NULL,
                destination TEXT NOT NULL,
                label TEXT,
                attempt INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                status INTEGER,
                duration_ms REAL NOT NULL,
                error TEXT,
                response TEXT,
                at TEXT NOT NULL
            )
            """,
            "CREATE INDEX attempts_at ON attempts (at, id)",
            "CREATE INDEX attempts_event ON attempts (event_id, at, id)",
            "CREATE INDEX attempts_instance ON attempts (instance, at, id)",
            "CREATE INDEX attempts_destination ON attempts (destination, at, id)",
        ),
    ),
    (
        3,
        (
            # Per-minute sums by destination (router.config.store.minutes), filled from the
            # last two hours of records: the console's traffic view reads at most one.
            # The SQL comes from functions: change them only together with a new migration.
            minutes.table_sql(MINUTES, "TEXT", "REAL"),
            minutes.backfill_sql(
                MINUTES,
                "attempts",
                "substr(at, 1, 16)",
                "at >= strftime('%Y-%m-%dT%H:%M', 'now', '-2 hours')",
            ),
        ),
    ),
)

_VERSION_TABLE: Final = """
    CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL
    )
"""

_UPSERT: Final = """
    INSERT INTO instance_config (instance, document, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (instance) DO UPDATE
    SET document = excluded.document, updated_at = excluded.updated_at
"""


class SqliteStore:
    """One connection per store; every call runs on a worker thread so the event loop never
    waits on the disk or on another process's write lock."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 10.0,
        sealer: Sealer | None = None,
    ) -> None:
        self._path = Path(path)
        self._busy_timeout = busy_timeout
        self._sealer = sealer or Sealer()
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        # The asyncio lock is given up when its holder is cancelled, while the worker thread it
        # started keeps running; this one keeps such a thread and the next call's apart.
        self._thread_lock = threading.Lock()
        self._attempts = SqliteAttemptLog(self._run, self._write)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def attempts(self) -> SqliteAttemptLog:
        """The delivery attempt history, in the same file, on the same connection."""
        return self._attempts

    async def open(self) -> None:
        async with self._lock:
            if self._connection is None:
                self._connection, review = await asyncio.to_thread(self._connect)
                report_review(review, self._sealer)

    async def close(self) -> None:
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                await asyncio.to_thread(self._serialized, connection, sqlite3.Connection.close)

    async def get(self, instance: str) -> InstanceConfig | None:
        def read(connection: sqlite3.Connection) -> str | None:
            row = connection.execute(
                "SELECT document FROM instance_config WHERE instance = ?", (instance,)
            ).fetchone()
            return None if row is None else str(row[0])

        document = await self._run(read)
        return None if document is None else self._decode(document)

    async def put(self, config: InstanceConfig) -> None:
        document = self._encode(config)

        def write(connection: sqlite3.Connection) -> None:
            with _transaction(connection):
                connection.execute(_UPSERT, (config.instance, document, utc_now()))

        await self._run(write)

    async def delete(self, instance: str) -> bool:
        def remove(connection: sqlite3.Connection) -> bool:
            with _transaction(connection):
                cursor = connection.execute(
                    "DELETE FROM instance_config WHERE instance = ?", (instance,)
                )
            return cursor.rowcount > 0

        return await self._run(remove)

    async def update(self, instance: str, change: Change) -> InstanceConfig | None:
        def apply(connection: sqlite3.Connection) -> InstanceConfig | None:
            # BEGIN IMMEDIATE takes the write lock before the read: processes sharing the
            # file take turns, so no change is computed from a document another overwrote.
            with _transaction(connection):
                row = connection.execute(
                    "SELECT document FROM instance_config WHERE instance = ?", (instance,)
                ).fetchone()
                current = None if row is None else self._decode(row[0])
                new = change(current)
                if new is None:
                    connection.execute(
                        "DELETE FROM instance_config WHERE instance = ?", (instance,)
                    )
                else:
                    connection.execute(_UPSERT, (instance, self._encode(new), utc_now()))
                return new

        return await self._run(apply)

    async def all(self) -> list[InstanceConfig]:
        def read(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(
                "SELECT document FROM instance_config ORDER BY instance"
            ).fetchall()
            return [str(row[0]) for row in rows]

        return [self._decode(d) for d in await self._run(read)]

    def _decode(self, text: str) -> InstanceConfig:
        document = orjson.loads(text)
        return InstanceConfig.from_document(
            self._sealer.open(document, str(document.get("instance", "")))
        )

    def _encode(self, config: InstanceConfig) -> str:
        return orjson.dumps(self._sealer.seal(config.to_document())).decode()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            if self._connection is None:
                raise RuntimeError(f"SQLite store {self._path} is not open; call open() first")
            return await asyncio.to_thread(self._serialized, self._connection, work)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def in_transaction(connection: sqlite3.Connection) -> T:
            with _transaction(connection):
                return work(connection)

        return await self._run(in_transaction)

    def _serialized(
        self, connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
    ) -> T:
        with self._thread_lock:
            return work(connection)

    def _connect(self) -> tuple[sqlite3.Connection, Review]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None leaves transactions to _transaction, so each one is visible in
        # the code; the timeout is SQLite's busy timeout, how long to wait for another
        # process's write lock before giving up.
        connection = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            _use_wal(connection, self._busy_timeout)
            _migrate(connection)
            review = self._review(connection)
        except BaseException:
            connection.close()
            raise
        return connection, review

    def _review(self, connection: sqlite3.Connection) -> Review:
        """Every document opened once, so a secret no key opens stops the store now; those
        with plain secrets (or sealed with an older key) written again, sealed."""
        rows = connection.execute("SELECT instance, document FROM instance_config").fetchall()
        review = self._sealer.review((str(i), orjson.loads(d)) for i, d in rows)
        if review.stale:
            self._reseal(connection, review.stale)
        return review

    def _reseal(self, connection: sqlite3.Connection, instances: tuple[str, ...]) -> None:
        # Rewriting a row leaves its old bytes in the page's free space, and the old page in
        # the write-ahead log, until something overwrites them: the plain secrets would still
        # be in the files. secure_delete zeroes what a write frees; the checkpoint copies the
        # new pages into the database and empties the log.
        connection.execute("PRAGMA secure_delete = ON")
        try:
            with _transaction(connection):
                for instance in instances:
                    # Read again under the write lock: another process may have sealed it.
                    row = connection.execute(
                        "SELECT document FROM instance_config WHERE instance = ?", (instance,)
                    ).fetchone()
                    if row is None:
                        continue
                    document = orjson.loads(row[0])
                    if not self._sealer.review([(instance, document)]).stale:
                        continue
                    sealed = self._sealer.seal(self._sealer.open(document, instance))
                    connection.execute(
                        "UPDATE instance_config SET document = ? WHERE instance = ?",
                        (orjson.dumps(sealed).decode(), instance),
                    )
        finally:
            connection.execute("PRAGMA secure_delete = OFF")
        # Best effort: a reader in another process may keep part of the log until it is done.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _use_wal(connection: sqlite3.Connection, timeout: float) -> None:
    """WAL lets readers in other processes go on while one of them writes; the setting is
    stored in the file, so whichever process creates the file sets it for all."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            # While another connection is switching a new file over, SQLite reports it busy at
            # once rather than through the busy timeout, so the waiting is done here.
            busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock at once, so waiting for another process happens under the
    # busy timeout instead of failing when a read turns into a write half-way.
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # SQLite rolls some failed transactions back on its own.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _current_version(connection: sqlite3.Connection) -> int:
    (version,) = connection.execute(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version"
    ).fetchone()
    return int(version)


def _migrate(connection: sqlite3.Connection) -> None:
    with _transaction(connection):
        connection.execute(_VERSION_TABLE)
    seen = _current_version(connection)
    for version, steps in MIGRATIONS:
        if version <= seen:
            continue
        with _transaction(connection):
            # Read again under the write lock: another process may have applied this version
            # since the first look.
            if version <= _current_version(connection):
                continue
            for step in steps:
                connection.execute(step)
            connection.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, utc_now()),
            )
