"""The configuration store contract, run unchanged against the in-memory, SQLite and PostgreSQL
stores, then what only the two on disk promise: schema migrations applied once and as a whole,
and several processes or replicas on one database."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

import router.config.store.postgres
import router.config.store.sqlite
from router.config.store import (
    ConfigStore,
    MemoryStore,
    PostgresStore,
    SqliteStore,
    open_store,
)
from schemas.instance_config import (
    ChannelConfig,
    InstanceConfig,
    PusherConfig,
    WebhookConfig,
)

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


class Backend:
    """One database and every store object made on it, as restarted processes or other
    replicas would make them; PostgreSQL tables get a prefix of their own and are dropped
    afterwards."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.file = tmp_path / "config.db"
        self.prefix = f"t_{uuid.uuid4().hex}_"
        # A MemoryStore's data lives in the object, so "the same database" is the same object.
        self.memory = MemoryStore()
        self.made: list[ConfigStore] = []

    def store(self) -> ConfigStore:
        made: ConfigStore
        if self.kind == "memory":
            made = self.memory
        elif self.kind == "sqlite":
            made = SqliteStore(self.file)
        else:
            made = PostgresStore(POSTGRES_URL, prefix=self.prefix)
        self.made.append(made)
        return made

    # What follows looks at the database directly, for the stores on disk only.

    @property
    def module(self) -> ModuleType:
        return router.config.store.sqlite if self.kind == "sqlite" else router.config.store.postgres

    def name(self, table: str) -> str:
        return table if self.kind == "sqlite" else f"{self.prefix}{table}"

    def extra_step(self, sql: str) -> str:
        """``sql`` written for SQLite's table names, as a migration step for this backend."""
        if self.kind == "sqlite":
            return sql
        return sql.replace("instance_config", "{config}").replace("new_", "{prefix}new_")

    async def versions(self) -> list[int]:
        query = f"SELECT version FROM {self.name('schema_version')} ORDER BY version"
        return [int(row[0]) for row in await self.fetch(query)]

    async def has_table(self, table: str) -> bool:
        if self.kind == "sqlite":
            query = f"SELECT count(*) FROM sqlite_master WHERE name = '{table}'"
        else:
            query = f"SELECT to_regclass('{self.name(table)}') IS NOT NULL"
        return bool((await self.fetch(query))[0][0])

    async def fetch(self, query: str) -> list[Any]:
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.file)) as connection:
                return connection.execute(query).fetchall()
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            return list(await connection.fetch(query))
        finally:
            await connection.close()

    async def tear_down(self) -> None:
        for made in self.made:
            await made.close()
        if self.kind == "postgres":
            tables = ("instance_config", "schema_version", "attempts", "new_table")
            names = ", ".join(f'"{self.name(table)}"' for table in tables)
            connection = await asyncpg.connect(POSTGRES_URL)
            try:
                await connection.execute(f"DROP TABLE IF EXISTS {names}")
            finally:
                await connection.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    chosen = Backend(request.param, tmp_path)
    yield chosen
    await chosen.tear_down()


@pytest.fixture(params=["sqlite", "postgres"])
async def on_disk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    chosen = Backend(request.param, tmp_path)
    yield chosen
    await chosen.tear_down()


@pytest.fixture
async def store(backend: Backend) -> ConfigStore:
    opened = backend.store()
    await opened.open()
    return opened


# Fixed times: the models default to now, and two builds of one config must compare equal.
CREATED = "2026-01-02T03:04:05.678Z"
UPDATED = "2026-02-03T04:05:06.789Z"


def full_config(instance: str = "acme") -> InstanceConfig:
    return InstanceConfig(
        instance=instance,
        updated_at=UPDATED,
        webhooks=(
            WebhookConfig(
                label="crm",
                url="https://crm.example.com/hooks/whatsapp?tenant=acme",
                events=["messages.upsert", "CONNECTION_UPDATE"],
                headers={"Authorization": "Bearer abc.def", "X-Tenant": "acme ü"},
                by_events=True,
                secret="whsec_c2VjcmV0",
                created_at=CREATED,
                updated_at=UPDATED,
            ),
            WebhookConfig(
                label="audit",
                url="http://audit.internal:8080/in",
                enabled=False,
                created_at=CREATED,
                updated_at=CREATED,
            ),
            WebhookConfig(
                label="bi.v2",
                url="https://bi.example.com/e",
                base64=True,
                created_at=CREATED,
                updated_at=UPDATED,
            ),
        ),
        rabbitmq=ChannelConfig(enabled=True, events=["messages.upsert", "qrcode.updated"]),
        websocket=ChannelConfig(enabled=True),
        pusher=PusherConfig(
            enabled=True,
            events=["send.message"],
            app_id="1234",
            key="key",
            secret="secret",
            cluster="eu",
            use_tls=False,
        ),
    )


def small_config(instance: str, url: str = "https://example.com/hook") -> InstanceConfig:
    hook = WebhookConfig(url=url, created_at=CREATED, updated_at=CREATED)
    return InstanceConfig(instance=instance, webhooks=(hook,), updated_at=CREATED)


# --- the contract, for every store ----------------------------------------------------------


async def test_get_of_missing_instance_is_none(store: ConfigStore) -> None:
    assert await store.get("nobody") is None


async def test_put_then_get_returns_an_equal_document(store: ConfigStore) -> None:
    config = full_config()
    await store.put(config)
    assert await store.get("acme") == config


async def test_put_replaces_the_whole_document(store: ConfigStore) -> None:
    await store.put(full_config())
    replacement = small_config("acme", "https://new.example.com/only")
    await store.put(replacement)
    stored = await store.get("acme")
    assert stored == replacement
    assert stored is not None
    assert [hook.label for hook in stored.webhooks] == ["default"]
    assert stored.pusher == PusherConfig()
    assert stored.rabbitmq == ChannelConfig()


async def test_delete_returns_true_then_false(store: ConfigStore) -> None:
    await store.put(small_config("gone"))
    await store.put(small_config("kept"))
    assert await store.delete("gone") is True
    assert await store.delete("gone") is False
    assert await store.get("gone") is None
    assert await store.get("kept") == small_config("kept")


async def test_all_of_an_empty_store_is_empty(store: ConfigStore) -> None:
    assert await store.all() == []


async def test_all_returns_every_instance_sorted_by_name(store: ConfigStore) -> None:
    # Upper case, digits, '-' and '_' catch a database that sorts by locale, not code point.
    names = ["zeta", "Alpha", "beta_1", "beta-2", "0day", "b", "B", "alpha"]
    for name in names:
        await store.put(small_config(name, f"https://example.com/{name}"))
    stored = await store.all()
    assert [config.instance for config in stored] == sorted(names)
    assert stored == [small_config(n, f"https://example.com/{n}") for n in sorted(names)]


async def test_open_twice_is_idempotent_and_keeps_data(store: ConfigStore) -> None:
    await store.put(full_config())
    await store.open()
    assert await store.get("acme") == full_config()
    await store.put(small_config("second"))
    assert [config.instance for config in await store.all()] == ["acme", "second"]


async def test_restart_keeps_everything(backend: Backend) -> None:
    first = backend.store()
    await first.open()
    await first.put(full_config())
    await first.put(small_config("other"))
    await first.delete("other")
    await first.put(small_config("last"))
    await first.close()

    restarted = backend.store()
    await restarted.open()
    assert await restarted.all() == [full_config(), small_config("last")]
    await restarted.put(small_config("after"))
    assert await restarted.get("after") == small_config("after")


async def test_two_stores_on_one_database_see_each_others_writes(backend: Backend) -> None:
    one, two = backend.store(), backend.store()
    await one.open()
    await two.open()
    await one.put(full_config())
    assert await two.get("acme") == full_config()
    await two.put(small_config("acme"))
    assert await one.get("acme") == small_config("acme")
    assert await two.delete("acme") is True
    assert await one.get("acme") is None
    assert await one.delete("acme") is False


async def test_stores_opened_at_once_on_a_new_database_all_work(backend: Backend) -> None:
    stores = [backend.store() for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    await asyncio.gather(*(s.put(small_config(f"i{n}")) for n, s in enumerate(stores)))
    for s in stores:
        assert [config.instance for config in await s.all()] == ["i0", "i1", "i2", "i3"]


async def test_fifty_concurrent_puts_all_land(store: ConfigStore) -> None:
    configs = [small_config(f"inst-{n:02d}", f"https://example.com/{n}") for n in range(50)]
    await asyncio.gather(*(store.put(config) for config in configs))
    assert await store.all() == configs


async def test_concurrent_puts_to_one_instance_leave_one_whole_document(
    store: ConfigStore,
) -> None:
    configs = [small_config("same", f"https://example.com/{n}") for n in range(50)]
    await asyncio.gather(*(store.put(config) for config in configs))
    assert await store.get("same") in configs
    assert len(await store.all()) == 1


# --- SQLite and PostgreSQL ------------------------------------------------------------------


async def test_use_before_open_or_after_close_is_refused(on_disk: Backend) -> None:
    made = on_disk.store()
    with pytest.raises(RuntimeError, match="not open"):
        await made.get("acme")
    await made.open()
    await made.close()
    await made.close()
    with pytest.raises(RuntimeError, match="not open"):
        await made.put(small_config("acme"))


async def test_each_migration_is_recorded_once(on_disk: Backend) -> None:
    stores = [on_disk.store() for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    await stores[0].open()
    reopened = on_disk.store()
    await reopened.open()
    known = [version for version, _ in on_disk.module.MIGRATIONS]
    assert known == sorted(set(known))
    assert await on_disk.versions() == known


async def test_a_later_migration_is_applied_on_open_and_keeps_data(
    on_disk: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = on_disk.store()
    await old.open()
    await old.put(full_config())
    await old.close()

    latest = on_disk.module.MIGRATIONS[-1][0]
    step = on_disk.extra_step(
        "CREATE TABLE new_table (instance TEXT PRIMARY KEY REFERENCES instance_config (instance))"
    )
    monkeypatch.setattr(
        on_disk.module, "MIGRATIONS", (*on_disk.module.MIGRATIONS, (latest + 1, (step,)))
    )
    upgraded = on_disk.store()
    await upgraded.open()
    assert await on_disk.has_table("new_table")
    assert (await on_disk.versions())[-1] == latest + 1
    assert await upgraded.get("acme") == full_config()


async def test_a_failing_migration_changes_nothing(
    on_disk: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = on_disk.store()
    await old.open()
    await old.put(full_config())
    await old.close()
    before = await on_disk.versions()

    latest = on_disk.module.MIGRATIONS[-1][0]
    steps = (on_disk.extra_step("CREATE TABLE new_table (x INTEGER)"), "THIS IS NOT SQL")
    monkeypatch.setattr(
        on_disk.module, "MIGRATIONS", (*on_disk.module.MIGRATIONS, (latest + 1, steps))
    )
    broken = on_disk.store()
    with pytest.raises((sqlite3.Error, asyncpg.PostgresError), match="syntax error"):
        await broken.open()
    assert not await on_disk.has_table("new_table")
    assert await on_disk.versions() == before
    with pytest.raises(RuntimeError, match="not open"):
        await broken.get("acme")

    monkeypatch.undo()
    fixed = on_disk.store()
    await fixed.open()
    assert await fixed.get("acme") == full_config()


# --- SQLite ---------------------------------------------------------------------------------


async def test_sqlite_creates_missing_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "config.db"
    made = SqliteStore(path)
    await made.open()
    try:
        await made.put(small_config("acme"))
    finally:
        await made.close()
    with closing(sqlite3.connect(path)) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


# Imports first, then waits for a line on stdin, so every process opens the file at once.
WRITER = """
import asyncio, sys
from router.config.store import SqliteStore
from schemas.instance_config import InstanceConfig

async def main(path: str, name: str) -> None:
    store = SqliteStore(path)
    await store.open()
    try:
        for n in range(20):
            await store.put(InstanceConfig(instance=f"{name}-{n:02d}"))
    finally:
        await store.close()

print("ready", flush=True)
sys.stdin.readline()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_sqlite_processes_share_one_new_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    names = [f"proc{n}" for n in range(4)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            str(path),
            name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for name in names
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), 60)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert codes == [0, 0, 0, 0]

    reader = SqliteStore(path)
    await reader.open()
    try:
        stored = [config.instance for config in await reader.all()]
    finally:
        await reader.close()
    assert stored == sorted(f"{name}-{n:02d}" for name in names for n in range(20))
    with closing(sqlite3.connect(path)) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_version")]
    assert versions == [version for version, _ in router.config.store.sqlite.MIGRATIONS]


# --- PostgreSQL -----------------------------------------------------------------------------


def test_postgres_table_names_derive_from_the_prefix() -> None:
    default = PostgresStore("postgresql://u@h/db")
    assert (default.config_table, default.version_table) == (
        "router_instance_config",
        "router_schema_version",
    )
    other = PostgresStore("postgresql://u@h/db", prefix="t_1_")
    assert (other.config_table, other.version_table) == (
        "t_1_instance_config",
        "t_1_schema_version",
    )


@pytest.mark.parametrize("prefix", ["Router_", "1abc", "a-b", 'x"; DROP TABLE y; --', "p" * 49])
def test_postgres_refuses_an_unsafe_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="table prefix"):
        PostgresStore("postgresql://u@h/db", prefix=prefix)


# --- open_store -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, "", "  "])
def test_open_store_without_url_is_sqlite_at_the_given_path(url: str | None) -> None:
    made = open_store(url, "data/router.db")
    assert isinstance(made, SqliteStore)
    assert made.path == Path("data/router.db")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/other.db", "data/other.db"),
        ("sqlite:////var/lib/router/config.db", "/var/lib/router/config.db"),
        ("SQLITE:///x.db", "x.db"),
    ],
)
def test_open_store_with_a_sqlite_url_uses_its_path(url: str, path: str) -> None:
    made = open_store(url, "ignored.db")
    assert isinstance(made, SqliteStore)
    assert made.path == Path(path)


@pytest.mark.parametrize(
    "url", ["postgres://u:p@db.example.com/router", "postgresql://u@127.0.0.1:5432/router"]
)
def test_open_store_with_a_postgres_url_is_postgres(url: str) -> None:
    made = open_store(url, "ignored.db")
    assert isinstance(made, PostgresStore)
    assert made.prefix == "router_"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://user:hunter2@db/router", "scheme 'mysql' is not supported"),
        ("redis://:hunter2@cache", "scheme 'redis' is not supported"),
        ("sqlite://hunter2.db", "sqlite:///PATH"),
        ("sqlite:///", "sqlite:///PATH"),
        ("hunter2.db", "has no scheme"),
    ],
)
def test_open_store_refuses_other_urls_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        open_store(url, "ignored.db")
    assert "hunter2" not in str(caught.value)


async def test_open_store_result_works(tmp_path: Path) -> None:
    made = open_store(None, str(tmp_path / "config.db"))
    await made.open()
    try:
        await made.put(full_config())
        assert await made.all() == [full_config()]
    finally:
        await made.close()


def test_sqlite_users_never_load_the_postgres_driver(tmp_path: Path) -> None:
    # A fresh interpreter: this one has the driver loaded by the tests above.
    script = (
        "import asyncio, sys\n"
        "from router.config.store import open_store\n"
        "async def main():\n"
        "    store = open_store(None, sys.argv[1])\n"
        "    await store.open()\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
        "assert 'asyncpg' not in sys.modules, 'asyncpg was imported'\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "config.db")], check=True, timeout=60
    )


async def test_updates_from_several_stores_on_one_database_are_never_lost(
    on_disk: Backend,
) -> None:
    # Two replicas adding webhooks to one instance at the same time: each read-modify-write
    # must see the one before it, or labels vanish.
    from schemas.instance_config import WebhookConfig

    stores = [on_disk.store(), on_disk.store()]
    for opened in stores:
        await opened.open()

    def adding(label: str) -> Callable[[InstanceConfig | None], InstanceConfig]:
        def change(current: InstanceConfig | None) -> InstanceConfig:
            base = current or InstanceConfig(instance="race")
            return base.with_webhook(WebhookConfig(label=label, url="https://x.example/h"))

        return change

    await asyncio.gather(*(stores[i % 2].update("race", adding(f"l{i}")) for i in range(20)))
    final = await stores[0].get("race")
    assert final is not None
    assert sorted(w.label for w in final.webhooks) == sorted(f"l{i}" for i in range(20))


async def test_a_refused_update_writes_nothing(store: ConfigStore) -> None:
    await store.put(small_config("kept"))

    def refuse(_: InstanceConfig | None) -> InstanceConfig:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await store.update("kept", refuse)
    assert await store.get("kept") == small_config("kept")
    assert await store.update("kept", lambda _: None) is None
    assert await store.get("kept") is None
