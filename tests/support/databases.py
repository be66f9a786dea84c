"""Configuration stores on the databases the tests use: a SQLite file of the test's own, or
PostgreSQL under a table prefix of the test's own, dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from router.config.store import ConfigStore, MemoryStore, PostgresStore, SqliteStore

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Every table the store's migrations create, for dropping a test's prefix whole.
TABLES = ("instance_config", "schema_version", "attempts", "attempt_minutes")


async def drop_prefix(prefix: str) -> None:
    names = ", ".join(f'"{prefix}{table}"' for table in TABLES)
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f"DROP TABLE IF EXISTS {names}")
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def opened_store(kind: str, directory: Path) -> AsyncIterator[ConfigStore]:
    """An open store of ``kind`` (memory, sqlite, postgres), closed and removed afterwards."""
    store: ConfigStore
    prefix = f"t_{uuid.uuid4().hex[:16]}_"
    if kind == "memory":
        store = MemoryStore()
    elif kind == "sqlite":
        store = SqliteStore(directory / "router.sqlite3")
    elif kind == "postgres":
        store = PostgresStore(POSTGRES_URL, prefix=prefix)
    else:
        raise ValueError(f"no such store kind: {kind}")
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        if kind == "postgres":
            await drop_prefix(prefix)
