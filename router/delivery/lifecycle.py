"""Endpoints that keep failing: a per-instance webhook that has not succeeded for
``WEBHOOK_ENDPOINT_DISABLE_AFTER`` is disabled, not probed forever in silence; one that answers
410 Gone is disabled at once. Its events are kept in the archive meanwhile, and re-enabling it
can replay what it missed (``POST /endpoints/enable``).

The state lives in the webhook's own document (``failing_since``, ``disabled_at``,
``disabled_reason``), so it survives restarts and every replica sees it; it is written only
when it changes, from the outcome of a delivery, never on the delivery's way. Decisions are
pure (``decide``); ``Lifecycle`` carries them out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from router.config.configsvc import ConfigService
from router.delivery.adapter import Dead, Delivered, Retry, Single
from router.delivery.notices import ENDPOINT_DISABLED, ENDPOINT_RECOVERED, Notices, notice
from router.logging import get_logger, mask_url
from schemas.instance_config import InstanceConfig, WebhookConfig
from schemas.timefmt import format_utc

log = get_logger("router.lifecycle")

GONE: Final = 410
# What a re-enabled webhook is sent again starts this long before it began to fail: the events
# that were on their way then (waiting for a slot, or for a request to time out).
MISSED_MARGIN: Final = timedelta(minutes=5)
# How long a webhook's state read from the store is trusted before it is read again: the
# writes are checked against the stored document anyway, this only saves reads.
STATE_TTL_SECONDS: Final = 30.0

Verdict = Literal["success", "failure", "gone"]


@dataclass(frozen=True, slots=True)
class Failing:
    since: str


@dataclass(frozen=True, slots=True)
class Disable:
    reason: str


@dataclass(frozen=True, slots=True)
class Recover:
    """A success after a failing spell: the state is cleared; ``notify`` when the spell had
    gone on long enough to matter (half the time to disabling), or followed a disabling."""

    notify: bool


Decision = Failing | Disable | Recover


def verdict_of(outcome: Single) -> Verdict | None:
    """What a delivery says about its endpoint; None for what says nothing (deferrals, skips)."""
    if outcome.status == GONE:
        return "gone"
    if isinstance(outcome, Delivered):
        return "success"
    if isinstance(outcome, Dead) or (isinstance(outcome, Retry) and outcome.counts):
        return "failure"
    return None


def decide(
    hook: WebhookConfig, verdict: Verdict, now: datetime, disable_after: float | None
) -> Decision | None:
    if not hook.enabled:
        return None  # an answer that was on its way when it was disabled changes nothing
    if verdict == "success":
        if hook.failing_since is None and hook.disabled_at is None:
            return None
        spell = 0.0
        if hook.failing_since is not None:
            spell = (now - datetime.fromisoformat(hook.failing_since)).total_seconds()
        long = disable_after is not None and spell >= disable_after / 2
        return Recover(notify=hook.disabled_at is not None or long)
    if verdict == "gone":
        return Disable(f"it answered {GONE} Gone")
    if hook.failing_since is None:
        return Failing(format_utc(now))
    spell = (now - datetime.fromisoformat(hook.failing_since)).total_seconds()
    if disable_after is not None and spell >= disable_after:
        return Disable(f"no delivery succeeded since {hook.failing_since}")
    return None


def applied(
    config: InstanceConfig, label: str, decision: Decision, now: datetime
) -> InstanceConfig:
    """``config`` with ``decision`` made on its webhook ``label``: checked again against what
    is stored, so a decision made on an older look changes nothing twice."""
    hook = config.webhook(label)
    if hook is None:
        return config
    if isinstance(decision, Failing):
        if hook.failing_since is not None:
            return config
        update: dict[str, object] = {"failing_since": decision.since}
    elif isinstance(decision, Disable):
        if not hook.enabled:
            return config
        update = {
            "enabled": False,
            "disabled_at": format_utc(now),
            "disabled_reason": decision.reason,
        }
    else:
        if not hook.enabled or (hook.failing_since is None and hook.disabled_at is None):
            return config
        update = {"failing_since": None, "disabled_at": None, "disabled_reason": None}
    return replaced(config, hook.model_copy(update=update))


def enabled_again(config: InstanceConfig, label: str) -> InstanceConfig:
    """Webhook ``label`` on again, with a new failing spell to come (``disabled_at`` stays
    until its first success, which is then told as a recovery)."""
    hook = config.webhook(label)
    if hook is None:
        raise LookupError(f"instance {config.instance!r} has no webhook {label!r}")
    update = {"enabled": True, "failing_since": None, "disabled_reason": None}
    return replaced(config, hook.model_copy(update=update))


def replaced(config: InstanceConfig, hook: WebhookConfig) -> InstanceConfig:
    """``config`` with its webhook of the same label replaced, in its place."""
    hooks = tuple(hook if w.label == hook.label else w for w in config.webhooks)
    return config.model_copy(update={"webhooks": hooks})


class Lifecycle:
    """Hears every webhook delivery's outcome and keeps its endpoint's state."""

    def __init__(
        self,
        config: ConfigService,
        notices: Notices,
        disable_after: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.notices = notices
        self.disable_after = disable_after
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, WebhookConfig | None]] = {}
        self._busy: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def heard(self, adapter: str, target: str | None, outcome: Single) -> None:
        """One delivery's outcome; never waits (the work, if any, runs on its own)."""
        if adapter != "webhook" or target is None or "/" not in target:
            return  # the global webhook is the operator's own: it is never disabled
        verdict = verdict_of(outcome)
        if verdict is None:
            return
        instance, _, label = target.rpartition("/")
        key = (instance, label)
        seen = self._seen.get(key)
        if seen is not None and self.clock() - seen[0] < STATE_TTL_SECONDS:
            hook = seen[1]
            if hook is None:
                return
            # A disabled one has outcomes only once it is enabled again: read it anew then.
            now = datetime.now(UTC)
            if hook.enabled and decide(hook, verdict, now, self.disable_after) is None:
                return
        if key in self._busy:
            return
        self._busy.add(key)
        task = asyncio.create_task(self._settle(key, verdict))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float = 5.0) -> None:
        """Let the changes under way be stored and told, for a while; then stop them."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _settle(self, key: tuple[str, str], verdict: Verdict) -> None:
        instance, label = key
        try:
            stored = await self.config.get(instance)
            hook = stored.webhook(label)
            now = datetime.now(UTC)
            decision = None if hook is None else decide(hook, verdict, now, self.disable_after)
            if hook is not None and decision is not None:
                # What the store held when the change was made: another replica, or an
                # answer that came later, may have made it already; then nothing is told.
                held: list[WebhookConfig | None] = []

                def change(current: InstanceConfig) -> InstanceConfig:
                    held[:] = [current.webhook(label)]
                    return applied(current, label, decision, now)

                new = await self.config.update(instance, change)
                before, hook = (held[0] if held else None), new.webhook(label)
                if before is not None and hook is not None and before != hook:
                    await self._tell(new, before, decision)
            self._seen[key] = (self.clock(), hook)
        except Exception as exc:  # the next outcome tries again
            log.warning("lifecycle.failed", instance=instance, label=label, error=str(exc))
        finally:
            self._busy.discard(key)

    async def _tell(
        self, config: InstanceConfig, before: WebhookConfig, decision: Decision
    ) -> None:
        after = config.webhook(before.label)
        fields = {
            "label": before.label,
            "destination": mask_url(before.url),
            "failing_since": before.failing_since,
        }
        if isinstance(decision, Disable) and after is not None and not after.enabled:
            key = f"{config.instance}/{before.label}|{after.disabled_at}"
            await self.notices.send(
                notice(
                    ENDPOINT_DISABLED,
                    config.instance,
                    key,
                    **fields,
                    reason=decision.reason,
                    disabled_at=after.disabled_at,
                )
            )
        elif isinstance(decision, Recover) and decision.notify:
            # The spell it ends names it: every replica gives the same id.
            key = f"{config.instance}/{before.label}|{before.failing_since}|{before.disabled_at}"
            await self.notices.send(
                notice(
                    ENDPOINT_RECOVERED,
                    config.instance,
                    key,
                    **fields,
                    disabled_at=before.disabled_at,
                )
            )
