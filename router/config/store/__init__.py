"""Per-instance configuration storage, chosen from the database URL."""

from __future__ import annotations

from router.config.secrets import Sealer
from router.config.store.attempts import AttemptLog, MemoryAttemptLog
from router.config.store.base import ConfigStore, MemoryStore
from router.config.store.postgres import PostgresStore
from router.config.store.sqlite import SqliteStore

__all__ = [
    "AttemptLog",
    "ConfigStore",
    "MemoryAttemptLog",
    "MemoryStore",
    "PostgresStore",
    "Sealer",
    "SqliteStore",
    "open_store",
]

_SQLITE_URL = "sqlite:///"


def open_store(
    database_url: str | None, sqlite_path: str, *, sealer: Sealer | None = None
) -> ConfigStore:
    """The store ``database_url`` names, not yet opened, sealing secrets with ``sealer``
    (none: stored as they are).

    ``postgres://`` and ``postgresql://`` URLs select PostgreSQL. No URL (or an empty one)
    selects SQLite at ``sqlite_path``; ``sqlite:///PATH`` selects SQLite at PATH, relative
    unless PATH itself starts with ``/`` (``sqlite:////var/lib/router.db``), as SQLAlchemy
    reads such URLs.
    """
    if database_url is None or not database_url.strip():
        return SqliteStore(sqlite_path, sealer=sealer)
    scheme, separator, _ = database_url.partition("://")
    # Only the scheme goes into error messages: the rest of the URL may hold a password.
    if not separator:
        raise ValueError(
            "database URL has no scheme; use postgresql://USER@HOST/DB, postgres://... "
            "or sqlite:///PATH"
        )
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql"):
        return PostgresStore(database_url, sealer=sealer)
    if scheme == "sqlite":
        path = database_url[len(_SQLITE_URL) :]
        if not database_url.lower().startswith(_SQLITE_URL) or not path:
            raise ValueError(
                "SQLite database URL must be sqlite:///PATH (three slashes, then the file's "
                "path; four for an absolute path)"
            )
        return SqliteStore(path, sealer=sealer)
    raise ValueError(
        f"database URL scheme {scheme!r} is not supported; use postgresql://USER@HOST/DB, "
        "postgres://... or sqlite:///PATH"
    )
