"""Configuration documents in PostgreSQL, shared by every router replica. Their secrets are
sealed on the way in and opened on the way out (``router.config.secrets``)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any, Final

import orjson

from router.config.secrets import Review, Sealer
from router.config.store import minutes
from router.config.store.attempts_postgres import PostgresAttemptLog
from router.config.store.base import Change, report_review
from schemas.instance_config import InstanceConfig

Migration = tuple[int, tuple[str, ...]]

# Each entry takes the schema from the version before it to its own and is applied in one
# transaction. Only ever append. Steps are format strings: {config}, {version}, {attempts}
# and {minutes} are the quoted table names, and {prefix} the bare table prefix for naming new objects (indexes
# and the like), safe to use unquoted because it is checked to be lower-case letters, digits
# and underscores.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    (
        1,
        (
            # The "C" collation orders names by code point, as the other stores do, whatever
            # the database's locale; the primary key index then also serves all()'s ordering.
            """
            CREATE TABLE {config} (
                instance TEXT COLLATE "C" PRIMARY KEY,
                document JSONB NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
        ),
    ),
    (
        2,
        (
            # The delivery attempt history (router.config.store.attempts_postgres); every
            # listing is newest first on (at, id), alone or after one exact filter.
            """
            CREATE TABLE {attempts} (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                event_id TEXT NOT NULL,
                instance TEXT NOT NULL,
                event TEXT NOT NULL,
                adapter TEXT NOT NULL,
                destination TEXT NOT NULL,
                label TEXT,
                attempt INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                status INTEGER,
                duration_ms DOUBLE PRECISION NOT NULL,
                error TEXT,
                response TEXT,
                at TIMESTAMPTZ NOT NULL
            )
            """,
            "CREATE INDEX {prefix}attempts_at ON {attempts} (at, id)",
            "CREATE INDEX {prefix}attempts_ev ON {attempts} (event_id, at, id)",
            "CREATE INDEX {prefix}attempts_in ON {attempts} (instance, at, id)",
            "CREATE INDEX {prefix}attempts_ds ON {attempts} (destination, at, id)",
        ),
    ),
    (
        3,
        (
            # Per-minute sums by destination (router.config.store.minutes), filled from the
            # last two hours of records: the console's traffic view reads at most one.
            # The SQL comes from functions: change them only together with a new migration.
            minutes.table_sql("{minutes}", "TEXT", "DOUBLE PRECISION"),
            minutes.backfill_sql(
                "{minutes}",
                "{attempts}",
                "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI')",
                "at >= now() - interval '2 hours'",
            ),
        ),
    ),
)

_PREFIX: Final = re.compile(r"[a-z_][a-z0-9_]*")
# PostgreSQL cuts identifiers at 63 bytes; the longest name derived here adds 15 characters.
_PREFIX_MAX_LENGTH: Final = 48


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PostgresStore:
    """A small connection pool; the schema is created or brought up to date by whichever
    replica opens first, the others wait for it."""

    def __init__(
        self,
        dsn: str,
        *,
        prefix: str = "router_",
        min_size: int = 1,
        max_size: int = 4,
        sealer: Sealer | None = None,
    ) -> None:
        if len(prefix) > _PREFIX_MAX_LENGTH or not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"table prefix {prefix!r} is not allowed: use lower-case letters, digits and "
                f"'_', not starting with a digit, at most {_PREFIX_MAX_LENGTH} characters"
            )
        self._dsn = dsn
        self._prefix = prefix
        self._sealer = sealer or Sealer()
        self._min_size = min_size
        self._max_size = max_size
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._config = _quote(self.config_table)
        self._version = _quote(self.version_table)
        self._attempts = PostgresAttemptLog(
            self._ready, _quote(self.attempts_table), _quote(self.minutes_table)
        )
        # One advisory lock per prefix: replicas sharing tables take turns migrating them,
        # stores with other prefixes are not held up.
        digest = hashlib.blake2b(f"router schema {prefix}".encode(), digest_size=8).digest()
        self._lock_key = int.from_bytes(digest, "big", signed=True)

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def config_table(self) -> str:
        return f"{self._prefix}instance_config"

    @property
    def version_table(self) -> str:
        return f"{self._prefix}schema_version"

    @property
    def attempts_table(self) -> str:
        return f"{self._prefix}attempts"

    @property
    def minutes_table(self) -> str:
        return f"{self._prefix}attempt_minutes"

    @property
    def attempts(self) -> PostgresAttemptLog:
        """The delivery attempt history, in the same database, on the same pool."""
        return self._attempts

    async def open(self) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            # Imported here so that a router on SQLite never loads the driver.
            import asyncpg  # type: ignore[import-untyped]

            pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_size, max_size=self._max_size
            )
            try:
                async with pool.acquire() as connection:
                    await self._migrate(connection)
                    review = await self._review(connection)
            except BaseException:
                await pool.close()
                raise
            self._pool = pool
            report_review(review, self._sealer)

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()

    async def get(self, instance: str) -> InstanceConfig | None:
        document = await self._ready().fetchval(
            f"SELECT document FROM {self._config} WHERE instance = $1", instance
        )
        return None if document is None else self._decode(document)

    async def put(self, config: InstanceConfig) -> None:
        await self._ready().execute(
            f"""
            INSERT INTO {self._config} (instance, document, updated_at)
            VALUES ($1, $2::jsonb, now())
            ON CONFLICT (instance) DO UPDATE
            SET document = EXCLUDED.document, updated_at = EXCLUDED.updated_at
            """,
            config.instance,
            self._encode(config),
        )

    async def delete(self, instance: str) -> bool:
        deleted = await self._ready().fetchval(
            f"DELETE FROM {self._config} WHERE instance = $1 RETURNING instance", instance
        )
        return deleted is not None

    async def update(self, instance: str, change: Change) -> InstanceConfig | None:
        async with self._ready().acquire() as connection, connection.transaction():
            # One writer per instance across every replica; others wait here, then read what
            # the first one wrote.
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"{self._prefix}{instance}"
            )
            raw = await connection.fetchval(
                f"SELECT document FROM {self._config} WHERE instance = $1", instance
            )
            new = change(None if raw is None else self._decode(raw))
            if new is None:
                await connection.execute(
                    f"DELETE FROM {self._config} WHERE instance = $1", instance
                )
            else:
                await connection.execute(
                    f"""
                    INSERT INTO {self._config} (instance, document, updated_at)
                    VALUES ($1, $2::jsonb, now())
                    ON CONFLICT (instance) DO UPDATE
                    SET document = EXCLUDED.document, updated_at = EXCLUDED.updated_at
                    """,
                    instance,
                    self._encode(new),
                )
            return new

    async def all(self) -> list[InstanceConfig]:
        rows = await self._ready().fetch(f"SELECT document FROM {self._config} ORDER BY instance")
        return [self._decode(row[0]) for row in rows]

    def _decode(self, text: str) -> InstanceConfig:
        # asyncpg hands JSONB over as its text unless a codec is registered on every connection.
        document = orjson.loads(text)
        return InstanceConfig.from_document(
            self._sealer.open(document, str(document.get("instance", "")))
        )

    def _encode(self, config: InstanceConfig) -> str:
        return orjson.dumps(self._sealer.seal(config.to_document())).decode()

    async def _review(self, connection: Any) -> Review:
        """Every document opened once, so a secret no key opens stops the store now; those
        with plain secrets (or sealed with an older key) written again, sealed."""
        rows = await connection.fetch(f"SELECT instance, document FROM {self._config}")
        review = self._sealer.review((row[0], orjson.loads(row[1])) for row in rows)
        for instance in review.stale:
            # One transaction each, as update() has them (many advisory locks in one would
            # outgrow the server's lock table), under the lock update() takes, so neither
            # writes over the other. Read again under it: another replica may have sealed it.
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"{self._prefix}{instance}"
                )
                raw = await connection.fetchval(
                    f"SELECT document FROM {self._config} WHERE instance = $1", instance
                )
                if raw is None:
                    continue
                document = orjson.loads(raw)
                if not self._sealer.review([(instance, document)]).stale:
                    continue
                sealed = self._sealer.seal(self._sealer.open(document, instance))
                await connection.execute(
                    f"UPDATE {self._config} SET document = $2::jsonb WHERE instance = $1",
                    instance,
                    orjson.dumps(sealed).decode(),
                )
        return review

    def _ready(self) -> Any:
        if self._pool is None:
            raise RuntimeError(
                f"PostgreSQL store (prefix {self._prefix!r}) is not open; call open() first"
            )
        return self._pool

    async def _migrate(self, connection: Any) -> None:
        names = {
            "config": self._config,
            "version": self._version,
            "attempts": _quote(self.attempts_table),
            "minutes": _quote(self.minutes_table),
            "prefix": self._prefix,
        }
        for version, steps in MIGRATIONS:
            async with connection.transaction():
                # Held until the transaction ends, so a replica that starts at the same moment
                # finds the version already recorded instead of racing to create the tables.
                await connection.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
                if await connection.fetchval("SELECT to_regclass($1)", self._version) is None:
                    await connection.execute(
                        f"""
                        CREATE TABLE {self._version} (
                            version INTEGER PRIMARY KEY,
                            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                        )
                        """
                    )
                current = await connection.fetchval(
                    f"SELECT COALESCE(MAX(version), 0) FROM {self._version}"
                )
                if version <= current:
                    continue
                for step in steps:
                    await connection.execute(step.format(**names))
                await connection.execute(
                    f"INSERT INTO {self._version} (version) VALUES ($1)", version
                )
