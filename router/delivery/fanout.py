"""What adapters with several targets per event share: sending to each at once, each target's
outcome its own, and reading an instance's configuration once more before skipping its event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from router.config.store import ConfigStore
from router.delivery.adapter import Outcome, PerTarget, Retry, Single

T = TypeVar("T")
Reload = Callable[[ConfigStore, str | None], Awaitable[None]]


def failed(exc: BaseException, destination: str | None = None) -> Retry:
    """A target whose send raised is retried, that target alone."""
    if isinstance(exc, asyncio.CancelledError):
        raise exc
    return Retry(f"{type(exc).__name__}: {exc}", destination=destination)


async def fan_out(
    targets: Mapping[str, T],
    send: Callable[[T], Awaitable[Single]],
    destination: Callable[[T], str | None] = lambda _: None,
) -> Outcome:
    """One target's outcome as it came, several gathered into a ``PerTarget``; a send that
    raises is that target's retry, so the others are never sent again."""
    if len(targets) == 1:
        ((_, target),) = targets.items()
        return await send(target)
    names = list(targets)
    results = await asyncio.gather(*(send(targets[n]) for n in names), return_exceptions=True)
    return PerTarget(
        {
            name: failed(result, destination(targets[name]))
            if isinstance(result, BaseException)
            else result
            for name, result in zip(names, results, strict=True)
        }
    )


class Rereader:
    """Remembers the store an adapter loaded its configuration from, to read one instance
    again before skipping its event: another replica may have bound a new subscription's key
    before this one heard of the change."""

    def __init__(self, reload: Reload) -> None:
        self._reload = reload
        self.store: ConfigStore | None = None

    async def again(self, instance: str) -> bool:
        """Read ``instance`` once more; False when nothing was ever loaded."""
        if self.store is None:
            return False
        await self._reload(self.store, instance)
        return True
