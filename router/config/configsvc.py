"""Reading and changing per-instance configuration: the one path every API dialect uses.

A change is a function from the current document to the new one. It runs inside the store's
own read-modify-write step (one writer per instance across every replica), is checked there,
stored whole, applied to this process, and announced to every other replica. A refused change
stores nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from router.amqp.broker import BrokerUnavailable
from router.config.store.base import ConfigStore
from router.logging import get_logger, mask_url
from schemas.instance_config import InstanceConfig

Announce = Callable[[str], Awaitable[None]]
Change = Callable[[InstanceConfig], InstanceConfig]
# Why a webhook URL may not be used, or None (``router.netguard.Guard.url_refusal``).
UrlRefusal = Callable[[str], Awaitable[str | None]]
# Deliver the archive from a time to one webhook alone: (instance, label, since).
Backfill = Callable[[str, str, str], Awaitable[None]]
log = get_logger("router.config")


class ConfigRefused(ValueError):
    """A change that breaks a rule of the service (not of the model), e.g. too many webhooks."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class StoreUnavailable(RuntimeError):
    """The store could not be read or written; nothing was changed."""


async def _nothing(_: str) -> None:
    return None


class ConfigService:
    def __init__(
        self,
        store: ConfigStore,
        announce: Announce,
        *,
        max_webhooks: int = 3,
        ready: Callable[[], bool] = lambda: True,
        apply_here: Announce = _nothing,
        url_refusal: UrlRefusal | None = None,
        backfill: Backfill | None = None,
    ) -> None:
        self.store = store
        self.announce = announce
        self.max_webhooks = max_webhooks
        self.ready = ready  # no change is stored while it could not be announced
        self.apply_here = apply_here
        self.url_refusal = url_refusal  # the SSRF guard's verdict on a webhook URL
        self.backfill = backfill

    async def get(self, instance: str) -> InstanceConfig:
        """The stored document, or the default (nothing enabled) for an instance never set."""
        try:
            found = await self.store.get(instance)
        except Exception as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return found if found is not None else InstanceConfig(instance=instance)

    async def exists(self, instance: str) -> bool:
        try:
            return await self.store.get(instance) is not None
        except Exception as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _checked(self, instance: str, new: InstanceConfig) -> InstanceConfig:
        if new.instance != instance:
            raise ConfigRefused(f"the document is for {new.instance!r}, not {instance!r}")
        enabled = new.enabled_webhooks()
        if enabled > self.max_webhooks:
            raise ConfigRefused(
                f"instance {instance!r} would have {enabled} enabled webhooks; at most "
                f"{self.max_webhooks} are allowed (ROUTER_MAX_WEBHOOKS_PER_INSTANCE): "
                "disable or delete one first"
            )
        return new

    async def update(self, instance: str, change: Change) -> InstanceConfig:
        await self._check_urls(instance, change)
        refusal: list[Exception] = []

        before: list[InstanceConfig | None] = []

        def step(current: InstanceConfig | None) -> InstanceConfig:
            before[:] = [current]
            try:
                return self._checked(instance, change(current or InstanceConfig(instance=instance)))
            except Exception as exc:
                refusal.append(exc)
                raise

        new = await self._write(instance, step, refusal)
        assert new is not None
        await self._spread(instance)
        if self.backfill is not None:
            for label, since in backfills(before[0] if before else None, new):
                await self.backfill(instance, label, since)
        return new

    async def _check_urls(self, instance: str, change: Change) -> None:
        """Webhook URLs the SSRF guard refuses are refused before anything is stored (their
        hosts are looked up here, which the store's transaction must not wait for)."""
        if self.url_refusal is None:
            return
        try:
            candidate = change(await self.get(instance))
        except ValueError:
            return  # refused again, with its reason, inside the transaction
        for hook in candidate.webhooks:
            why = await self.url_refusal(hook.url) if hook.enabled else None
            if why is not None:
                raise ConfigRefused(f"webhook {hook.label!r} ({mask_url(hook.url)}): {why}")

    async def delete(self, instance: str) -> bool:
        existed: list[bool] = []

        def step(current: InstanceConfig | None) -> None:
            existed.append(current is not None)
            return None

        await self._write(instance, step, [])
        if existed and existed[0]:
            await self._spread(instance)
            return True
        return False

    async def _write(
        self,
        instance: str,
        step: Callable[[InstanceConfig | None], InstanceConfig | None],
        refusal: list[Exception],
    ) -> InstanceConfig | None:
        if not self.ready():
            raise BrokerUnavailable("not connected to RabbitMQ; the change could not be announced")
        try:
            return await self.store.update(instance, step)
        except Exception as exc:
            if refusal:
                raise refusal[0] from None
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _spread(self, instance: str) -> None:
        # Applied here before the answer, so an event sent right after it finds its bindings.
        await self.apply_here(instance)
        try:
            await self.announce(instance)
        except BrokerUnavailable as exc:
            # Stored and applied here; the other replicas catch up at their periodic resync.
            log.warning("config.announce_failed", instance=instance, error=str(exc))


def backfills(before: InstanceConfig | None, after: InstanceConfig) -> list[tuple[str, str]]:
    """(label, since) of each enabled webhook whose backfill was asked for by this change: one
    added with ``backfill_since``, or whose ``backfill_since`` changed."""
    asked = {} if before is None else {w.label: w.backfill_since for w in before.webhooks}
    return [
        (hook.label, hook.backfill_since)
        for hook in after.webhooks
        if hook.enabled
        and hook.backfill_since is not None
        and (hook.label not in asked or asked[hook.label] != hook.backfill_since)
    ]
