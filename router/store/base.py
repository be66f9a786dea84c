"""Where per-instance configuration lives: one small interface, a SQLite and a PostgreSQL
implementation, and an in-memory double for tests of what sits above it."""

from __future__ import annotations

from typing import Protocol

from schemas.instance_config import InstanceConfig


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


class MemoryStore:
    def __init__(self) -> None:
        self._documents: dict[str, InstanceConfig] = {}

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
