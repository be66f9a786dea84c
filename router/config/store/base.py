"""Where per-instance configuration lives: one small interface, a SQLite and a PostgreSQL
implementation, and an in-memory double for tests of what sits above it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from router.config.secrets import SETTING, Review, Sealer
from router.config.store.attempts import AttemptLog, MemoryAttemptLog
from router.logging import get_logger
from schemas.instance_config import InstanceConfig

log = get_logger("router.config.store")

# From the stored document (None if there is none) to the new one (None deletes it). It may
# raise to refuse the change; then nothing is written.
Change = Callable[[InstanceConfig | None], InstanceConfig | None]


class ConfigStore(Protocol):
    """Whole documents per instance; every write replaces the instance's document at once, so
    nothing partial is ever stored."""

    async def open(self) -> None:
        """Connect and create or migrate the schema."""
        ...

    async def close(self) -> None: ...

    async def get(self, instance: str) -> InstanceConfig | None: ...

    async def put(self, config: InstanceConfig) -> None: ...

    async def delete(self, instance: str) -> bool:
        """True when there was a document to delete."""
        ...

    async def all(self) -> list[InstanceConfig]: ...

    async def update(self, instance: str, change: Change) -> InstanceConfig | None:
        """Read, change and write one instance's document as one step, even when several
        processes share the store; returns what is stored afterwards."""
        ...

    @property
    def attempts(self) -> AttemptLog:
        """The delivery attempt history, kept in the same database (usable once opened)."""
        ...


def report_review(review: Review, sealer: Sealer) -> None:
    """What a store on disk found when it opened, said once: documents sealed now, or secrets
    lying in plain text for want of a key."""
    if sealer.enabled and review.stale:
        log.info(
            "config.secrets_sealed",
            instances=len(review.stale),
            detail=f"secrets written again, sealed with the first key of {SETTING}",
        )
    elif not sealer.enabled and review.unsealed:
        log.warning(
            "config.secrets_unencrypted",
            instances=len(review.unsealed),
            detail=f"{SETTING} is not set: webhook secrets and credentials, Pusher secrets "
            "and instance tokens are stored in the database unencrypted",
        )


class MemoryStore:
    def __init__(self) -> None:
        self._documents: dict[str, InstanceConfig] = {}
        self._attempts = MemoryAttemptLog()

    @property
    def attempts(self) -> MemoryAttemptLog:
        return self._attempts

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, instance: str) -> InstanceConfig | None:
        return self._documents.get(instance)

    async def put(self, config: InstanceConfig) -> None:
        self._documents[config.instance] = config

    async def delete(self, instance: str) -> bool:
        return self._documents.pop(instance, None) is not None

    async def all(self) -> list[InstanceConfig]:
        return [self._documents[k] for k in sorted(self._documents)]

    async def update(self, instance: str, change: Change) -> InstanceConfig | None:
        new = change(self._documents.get(instance))
        if new is None:
            self._documents.pop(instance, None)
        else:
            self._documents[instance] = new
        return new
