"""Reading and changing per-instance configuration: the one path every API dialect uses.

A change is a function from the current document to the new one; it is checked, stored whole,
and announced to every replica. Nothing partial is stored: a refused change stores nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from router.store.base import ConfigStore
from schemas.instance_config import InstanceConfig

Announce = Callable[[str], Awaitable[None]]
Change = Callable[[InstanceConfig], InstanceConfig]


class ConfigRefused(ValueError):
    """A change that breaks a rule of the service (not of the model), e.g. too many webhooks."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class ConfigService:
    def __init__(self, store: ConfigStore, announce: Announce, *, max_webhooks: int = 3) -> None:
        self.store = store
        self.announce = announce
        self.max_webhooks = max_webhooks
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, instance: str) -> InstanceConfig:
        """The stored document, or the default (nothing enabled) for an instance never set."""
        found = await self.store.get(instance)
        return found if found is not None else InstanceConfig(instance=instance)

    async def exists(self, instance: str) -> bool:
        return await self.store.get(instance) is not None

    async def update(self, instance: str, change: Change) -> InstanceConfig:
        lock = self._locks.setdefault(instance, asyncio.Lock())
        async with lock:
            new = change(await self.get(instance))
            if new.instance != instance:
                raise ConfigRefused(f"the document is for {new.instance!r}, not {instance!r}")
            enabled = new.enabled_webhooks()
            if enabled > self.max_webhooks:
                raise ConfigRefused(
                    f"instance {instance!r} would have {enabled} enabled webhooks; at most "
                    f"{self.max_webhooks} are allowed (ROUTER_MAX_WEBHOOKS_PER_INSTANCE): "
                    "disable or delete one first"
                )
            await self.store.put(new)
        await self.announce(instance)
        return new

    async def delete(self, instance: str) -> bool:
        lock = self._locks.setdefault(instance, asyncio.Lock())
        async with lock:
            deleted = await self.store.delete(instance)
        if deleted:
            await self.announce(instance)
        return deleted
