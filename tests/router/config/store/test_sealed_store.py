"""Secrets sealed at rest by the SQLite and PostgreSQL stores (``ROUTER_SECRETS_KEY``): what
reaches the database, rotation, documents written before the key, refusals, and the warning
without a key. Real SQLite files and the real PostgreSQL, under a table prefix of each test's
own."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from cryptography.fernet import Fernet
from structlog.testing import capture_logs

from router.config.secrets import Sealer, SecretsKeyError
from router.config.store import PostgresStore, SqliteStore, open_store
from schemas.instance_config import InstanceConfig, PusherConfig, WebhookConfig
from tests.support.databases import POSTGRES_URL, drop_prefix

TOKEN = "tok-3f9a1c"
PUSHER_SECRET = "push-8d2e4b"
HOOK_SECRET = "whsec_c2VhbGVkLXN0b3JlLXRlc3Qtc2lnbmluZw=="
JWT_KEY = "jwt-51c0aa"
BEARER = "Bearer auth-6b7e02"
URL_PASSWORD = "pw-0e93d7"
SECRETS = (TOKEN, PUSHER_SECRET, HOOK_SECRET, JWT_KEY, BEARER, URL_PASSWORD)


def new_key() -> str:
    return Fernet.generate_key().decode()


def config(instance: str = "shop") -> InstanceConfig:
    return InstanceConfig(
        instance=instance,
        token=TOKEN,
        webhooks=(
            WebhookConfig(
                label="crm",
                url=f"https://bot:{URL_PASSWORD}@crm.example.com/hook",
                headers={"jwt_key": JWT_KEY, "Authorization": BEARER, "X-Tenant": "t1"},
                secret=HOOK_SECRET,
            ),
        ),
        pusher=PusherConfig(enabled=True, app_id="app-1", key="k", secret=PUSHER_SECRET),
    )


class Database:
    """One database (a SQLite file, or PostgreSQL tables under a prefix) and stores opened on
    it as restarted processes would open them, each with its own key."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.file = tmp_path / "config.db"
        self.prefix = f"t_{uuid.uuid4().hex[:16]}_"
        self.opened: list[SqliteStore | PostgresStore] = []

    async def open(self, keys: str = "") -> SqliteStore | PostgresStore:
        sealer = Sealer.from_text(keys)
        store: SqliteStore | PostgresStore
        if self.kind == "sqlite":
            store = SqliteStore(self.file, sealer=sealer)
        else:
            store = PostgresStore(POSTGRES_URL, prefix=self.prefix, sealer=sealer)
        await store.open()
        self.opened.append(store)
        return store

    async def rows(self) -> dict[str, str]:
        """Each stored document as the database holds it."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.file)) as connection:
                found = connection.execute("SELECT instance, document FROM instance_config")
                return {str(i): str(d) for i, d in found.fetchall()}
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            table = f'"{self.prefix}instance_config"'
            rows = await connection.fetch(f"SELECT instance, document::text FROM {table}")
            return {row[0]: row[1] for row in rows}
        finally:
            await connection.close()

    def file_bytes(self) -> bytes:
        """Every file of the SQLite database: the file, its log and shared memory."""
        return b"".join(p.read_bytes() for p in sorted(self.file.parent.glob("config.db*")))

    async def close(self) -> None:
        for store in self.opened:
            await store.close()
        self.opened.clear()


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    made = Database(request.param, tmp_path)
    yield made
    await made.close()
    if made.kind == "postgres":
        await drop_prefix(made.prefix)


def holds_secret(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


async def test_round_trip_with_a_key_keeps_secrets_out_of_the_rows(database: Database) -> None:
    store = await database.open(new_key())
    await store.put(config("a"))

    def add_label(current: InstanceConfig | None) -> InstanceConfig:
        assert current is not None
        assert current.token == TOKEN
        hook = WebhookConfig(label="two", url="https://two.example.com/", secret=HOOK_SECRET)
        return current.with_webhook(hook)

    updated = await store.update("a", add_label)
    await store.put(config("b"))
    assert await store.get("a") == updated
    assert await store.all() == [updated, await store.get("b")]
    rows = await database.rows()
    assert set(rows) == {"a", "b"}
    for text in rows.values():
        assert holds_secret(text) == []
        assert '"fernet"' in text
        assert "crm.example.com" not in text  # its URL carries a password: sealed whole
        assert "X-Tenant" in text
        assert '"t1"' in text
    assert "two.example.com" in rows["a"]  # this URL carries none: readable


async def test_sqlite_file_never_holds_a_secret_with_a_key(tmp_path: Path) -> None:
    database = Database("sqlite", tmp_path)
    store = await database.open(new_key())
    for n in range(5):
        await store.put(config(f"i{n}"))
    await store.update("i0", lambda current: current)
    assert holds_secret(database.file_bytes().decode("latin-1")) == []
    await database.close()
    assert holds_secret(database.file_bytes().decode("latin-1")) == []


async def test_rotation_opens_with_the_old_key_and_writes_with_the_new(
    database: Database,
) -> None:
    old, new = new_key(), new_key()
    stored = config()
    first = await database.open(old)
    await first.put(stored)
    await database.close()

    rotated = await database.open(f"{new},{old}")
    assert await rotated.get("shop") == stored
    await rotated.put(config("later"))
    await database.close()

    # Both documents now open with the new key alone: the old one was sealed again when the
    # store opened, the later one was written with the new key.
    alone = await database.open(new)
    assert {c.instance for c in await alone.all()} == {"shop", "later"}
    assert all(c.token == TOKEN for c in await alone.all())
    await database.close()
    with pytest.raises(SecretsKeyError):
        await database.open(old)


async def test_plain_documents_are_sealed_when_a_key_is_set(database: Database) -> None:
    plain = await database.open()
    await plain.put(config("a"))
    await plain.put(InstanceConfig(instance="bare"))
    await database.close()
    assert holds_secret((await database.rows())["a"]) == sorted(SECRETS, key=SECRETS.index)

    key = new_key()
    with capture_logs() as logs:
        sealed = await database.open(key)
    assert [(line["event"], line["log_level"]) for line in logs] == [
        ("config.secrets_sealed", "info")
    ]
    assert logs[0]["instances"] == 1
    rows = await database.rows()
    assert holds_secret(rows["a"]) == []
    if database.kind == "sqlite":
        # Not in the page's free space, nor in the database file or the write-ahead log while
        # the store is open.
        assert holds_secret(database.file_bytes().decode("latin-1")) == []
    got = await sealed.get("a")
    assert got is not None
    assert got.token == TOKEN
    assert got.pusher.secret == PUSHER_SECRET
    await database.close()
    if database.kind == "sqlite":
        assert holds_secret(database.file_bytes().decode("latin-1")) == []
    with capture_logs() as again:
        await database.open(key)
    assert again == []  # nothing left to seal, nothing to say


async def test_a_wrong_key_is_refused_when_the_store_opens(database: Database) -> None:
    store = await database.open(new_key())
    await store.put(config())
    await database.close()
    with pytest.raises(SecretsKeyError, match="no key in ROUTER_SECRETS_KEY opens") as caught:
        await database.open(new_key())
    assert "'shop'" in str(caught.value)
    with pytest.raises(SecretsKeyError, match="ROUTER_SECRETS_KEY is not set"):
        await database.open()


async def test_a_refused_store_is_not_left_open(database: Database) -> None:
    store = await database.open(new_key())
    await store.put(config())
    await database.close()
    sealer = Sealer.from_text(new_key())
    refused: SqliteStore | PostgresStore = (
        SqliteStore(database.file, sealer=sealer)
        if database.kind == "sqlite"
        else PostgresStore(POSTGRES_URL, prefix=database.prefix, sealer=sealer)
    )
    with pytest.raises(SecretsKeyError):
        await refused.open()
    with pytest.raises(RuntimeError, match="not open"):
        await refused.get("shop")


async def test_without_a_key_secrets_are_plain_and_warned_about(database: Database) -> None:
    with capture_logs() as empty:
        store = await database.open()
    assert empty == []  # nothing stored yet: nothing to warn about
    await store.put(config())
    await store.put(InstanceConfig(instance="bare"))
    await database.close()
    assert holds_secret((await database.rows())["shop"]) != []

    with capture_logs() as logs:
        store = await database.open()
    warnings = [line for line in logs if line["log_level"] == "warning"]
    assert [line["event"] for line in warnings] == ["config.secrets_unencrypted"]
    assert warnings[0]["instances"] == 1
    assert "ROUTER_SECRETS_KEY is not set" in warnings[0]["detail"]
    assert await store.get("shop") == await store.get("shop")


def test_open_store_passes_the_sealer_on(tmp_path: Path) -> None:
    sealer = Sealer.from_text(new_key())
    made: Any = open_store(None, str(tmp_path / "x.db"), sealer=sealer)
    assert isinstance(made, SqliteStore)
    assert made._sealer is sealer
    made = open_store("postgresql://u@h/db", "ignored", sealer=sealer)
    assert isinstance(made, PostgresStore)
    assert made._sealer is sealer
