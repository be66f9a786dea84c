"""The Pusher adapter: channel = instance, event name = wire name, data = the envelope.

An instance whose name is not a valid channel name (``Loja Centro``) is sent on its made word
(``schemas.instance``)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson
from prometheus_client import Counter

from adapters.pusher.client import App, Clients, PusherHttpError
from router.config.selection import Selection
from router.config.settings import Settings
from router.config.store.base import ConfigStore
from router.delivery.adapter import (
    Dead,
    Delivered,
    Delivery,
    Feed,
    Outcome,
    Retry,
    RetryPolicy,
    Skipped,
)
from router.delivery.batcher import Batcher, BatcherClosed
from router.delivery.fanout import Rereader, fan_out
from router.logging import get_logger
from router.media import without_claims
from schemas import Envelope
from schemas.instance import word_within
from schemas.instance_config import InstanceConfig, PusherConfig

log = get_logger("adapters.pusher")
TRIGGERS = Counter("router_pusher_events_total", "Events accepted by Pusher")
BATCHES = Counter("router_pusher_batches_total", "trigger_batch calls Pusher took")
FAILURES = Counter("router_pusher_failures_total", "Pusher failures by reason", ["reason"])

# Pusher's own limits, on the real rules: data in UTF-8 bytes, not Python object size.
MAX_DATA_BYTES = 10240
MAX_CHANNEL = 164
MAX_EVENT_NAME = 200
CHANNEL_CHARS = re.compile(r"^[A-Za-z0-9_\-=@,.;]+$")
# An instance whose name Pusher takes whole is its channel; any other, its made word.
CHANNEL_NAME = re.compile(rf"[A-Za-z0-9_\-=@,.;]{{1,{MAX_CHANNEL}}}")
NOT_RETRIED = frozenset({400, 401, 413})
GLOBAL = "global"


def limit_problem(channel: str, name: str, data: str) -> str | None:
    """``<reason code>: <detail>`` when Pusher would refuse the event, else None."""
    if len(channel) > MAX_CHANNEL or not CHANNEL_CHARS.match(channel):
        return f"invalid_channel: {channel!r} is not a valid Pusher channel name"
    if len(name) > MAX_EVENT_NAME:
        return f"event_name_too_long: over {MAX_EVENT_NAME} characters"
    size = len(data.encode())
    if size > MAX_DATA_BYTES:
        return f"payload_too_large: {size} bytes of data, over Pusher's {MAX_DATA_BYTES}"
    return None


class PusherAdapter:
    name = "pusher"
    feed = Feed(prefetch=256)  # batches of 10 per app fill only with enough in flight

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.pusher
        self.retry_policy = RetryPolicy.from_settings(settings.webhook)
        p = self.settings
        self.global_app = App.from_settings(p) if p.global_enabled and p.global_app_id else None
        if self.global_app is not None and (problem := self.global_app.problem()):
            raise ValueError(f"PUSHER_GLOBAL_APP_ID, _KEY, _SECRET: {problem}")
        self.refused: dict[str, str] = {}  # instance -> why its own app is not used
        self.selection = Selection(
            p.enabled_events() if self.global_app else frozenset(), self.usable_block
        )
        self.clients = Clients()
        self.apps: dict[str, App] = {}
        self.batcher = Batcher(
            self._send, p.batch_window_ms / 1000, MAX_DATA_BYTES * 10, entry_fault
        )
        self.rereader = Rereader(self.reload)

    def routing_keys(self) -> frozenset[str]:
        return self.selection.routing_keys()

    def usable_block(self, config: InstanceConfig) -> PusherConfig | None:
        """An instance's own app, when it has one that can work. One that cannot is said once,
        when it is read, rather than in a dead letter per event."""
        block = config.pusher
        if not block.app_id:
            return None
        problem = App.from_block(block, self.settings).problem() if block.enabled else None
        if problem is None:
            self.refused.pop(config.instance, None)
            return block
        if self.refused.get(config.instance) != problem:
            self.refused[config.instance] = problem
            FAILURES.labels(reason="invalid_app").inc()
            log.error(
                "pusher.app_unusable",
                instance=config.instance,
                detail=f"{problem}; this instance's events are not sent to its Pusher app",
            )
        return None

    async def reload(self, store: ConfigStore, instance: str | None) -> None:
        """Per-instance ``pusher`` blocks, each with its own app."""
        self.rereader.store = store
        await self.selection.reload(store, instance)

    async def start(self) -> None:
        await self.clients.start()

    async def close(self) -> None:
        await self.batcher.close()
        await self.clients.close()

    def targets(self, envelope: Envelope) -> dict[str, App]:
        found: dict[str, App] = {}
        if self.global_app is not None and self.selection.wants_globally(envelope):
            found[GLOBAL] = self.global_app
        block = self.selection.block_for(envelope)
        if isinstance(block, PusherConfig):
            found[envelope.instance] = App.from_block(block, self.settings)
        return found

    async def deliver(self, delivery: Delivery) -> Outcome:
        envelope = delivery.envelope
        targets = self.targets(envelope)
        if not targets and await self.rereader.again(envelope.instance):
            targets = self.targets(envelope)
        if delivery.target is not None:
            targets = {k: v for k, v in targets.items() if k == delivery.target}
        if not targets:
            return Skipped(f"Pusher is not on for {envelope.instance}.{envelope.event}")
        return await fan_out(targets, lambda app: self.safe_trigger(app, envelope))

    async def safe_trigger(self, app: App, envelope: Envelope) -> Delivered | Retry | Dead:
        """Every failure becomes this target's outcome, so the others are never resent."""
        try:
            return await self.trigger(app, envelope)
        except (ValueError, TypeError) as exc:
            FAILURES.labels(reason="invalid_app").inc()
            return Dead(
                f"invalid Pusher app {app.app_id!r}: {exc}", destination=f"pusher:{app.app_id}"
            )
        except Exception as exc:
            FAILURES.labels(reason="error").inc()
            return Retry(f"{type(exc).__name__}: {exc}", destination=f"pusher:{app.app_id}")

    async def trigger(self, app: App, envelope: Envelope) -> Delivered | Retry | Dead:
        channel, name = word_within(envelope.instance, CHANNEL_NAME), envelope.event
        destination = f"pusher:{app.app_id}/{channel}"
        data = without_claims(envelope).to_json().decode()
        problem = limit_problem(channel, name, data)
        if (
            problem is not None
            and problem.startswith("payload_too_large")
            and self.settings.oversize_notice
        ):
            # The front-end learns the event exists and fetches it elsewhere by its id.
            data = orjson.dumps(
                {"id": envelope.id, "event": name, "instance": envelope.instance, "oversize": True}
            ).decode()
            problem = None
        if problem is not None:
            FAILURES.labels(reason=problem.split(":")[0]).inc()
            return Dead(problem, destination=destination)
        self.apps[app.name] = app
        entry: dict[str, Any] = {"channel": channel, "name": name, "data": data}
        try:
            result = await self.batcher.send(app.name, entry, len(data.encode()))
        except BatcherClosed as exc:
            return Retry(str(exc), destination=destination)
        except PusherHttpError as exc:
            FAILURES.labels(reason=str(exc.status)).inc()
            if exc.status in NOT_RETRIED:
                return Dead(str(exc), destination=destination, status=exc.status)
            if exc.status == 403:
                # Over quota or app disabled: loud, and retried slowly.
                log.error("pusher.forbidden", app_id=app.app_id, error=str(exc))
                return Retry(
                    str(exc), delay=self.retry_policy.max_delay, destination=destination, status=403
                )
            return Retry(str(exc), destination=destination, status=exc.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            FAILURES.labels(reason="unreachable").inc()
            return Retry(
                f"Pusher unreachable: {type(exc).__name__}: {exc}", destination=destination
            )
        if result.ok:
            TRIGGERS.inc()
            return Delivered(destination=destination)
        return Retry(f"{result.code}: {result.message}", destination=destination)

    async def _send(self, key: str, entries: Any) -> dict[str, Any]:
        app = self.apps[key]
        events = [{k: e[k] for k in ("channel", "name", "data")} for e in entries]
        await self.clients.trigger_batch(app, events)
        BATCHES.inc()  # only batches Pusher took
        return {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}


def entry_fault(exc: BaseException) -> bool:
    """A refused batch that one event may have caused: try each alone."""
    return isinstance(exc, PusherHttpError) and exc.status in (400, 413)
