"""Replays a process runs: started from a request (checked, surveyed, then sent in the
background), looked up by id while they run and for a while after."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from aio_pika.abc import AbstractConnection

from router.amqp.broker import Broker
from router.amqp.topology import Topology
from router.config.store.base import ConfigStore
from router.logging import get_logger
from router.replay.job import CONNECT_WAIT_SECONDS, Connect, Progress, Replay, survey
from router.replay.plan import ReplayPlan, parse_plan
from router.replay.routes import Destination, choices, destinations, labelled
from schemas import new_event_id

log = get_logger("router.replay")
# Finished replays remembered for GET /replay/{id}; the oldest are forgotten first.
KEEP_FINISHED: Final = 100


def through(broker: Broker) -> Connect:
    """The broker's connection, once it is up (``TimeoutError`` after a while without)."""

    async def connect() -> AbstractConnection:
        await broker.wait_ready(CONNECT_WAIT_SECONDS)
        return broker.connection

    return connect


async def refill(
    connect: Connect, stream: str, destination: Destination, since: datetime
) -> Progress:
    """Give one queue again what the archive took in from ``since`` on and that its bindings
    want: a queue that was deleted and declared anew missed what came in between, which only
    the archive kept."""
    plan = ReplayPlan(since=since, until=datetime.now(UTC))
    found = await survey(await connect(), stream, plan)
    progress = Progress(new_event_id(), plan, found.matched, found.available_since)
    return await Replay(progress, found, stream, connect, (destination,), {}).run()


class ReplayService:
    def __init__(
        self,
        connect: Connect,
        stream: str,
        topology: Callable[[], Topology],
        store: ConfigStore,
    ) -> None:
        self.connect = connect
        self.stream = stream
        self.topology = topology  # asked anew: per-instance configuration changes it
        self.store = store
        self._replays: OrderedDict[str, Progress] = OrderedDict()
        self._tasks: set[asyncio.Task[Progress | None]] = set()

    async def plan(self, body: object, now: datetime | None = None) -> ReplayPlan:
        """The request's plan, refused (``PlanRefused``) when it names what is not here."""
        instance = body.get("instance") if isinstance(body, dict) else None
        configs = await self.store.all()
        webhooks = labelled(configs, instance if isinstance(instance, str) else None)
        return parse_plan(
            body,
            now=now or datetime.now(UTC),
            choices=choices(destinations(self.topology())),
            labels={label for _, label in webhooks},
        )

    async def prepare(self, plan: ReplayPlan) -> Replay:
        """Survey the archive for ``plan``: the replay of what it matches, not yet run."""
        found = await survey(await self.connect(), self.stream, plan)
        progress = Progress(new_event_id(), plan, found.matched, found.available_since)
        webhooks = labelled(await self.store.all(), plan.instance)
        found_at = destinations(self.topology())
        return Replay(progress, found, self.stream, self.connect, found_at, webhooks)

    async def start(self, plan: ReplayPlan) -> Progress:
        """Survey the archive for ``plan`` and send what it matches in the background."""
        replay = await self.prepare(plan)
        progress = replay.progress
        self._remember(progress)
        task = asyncio.create_task(replay.run(), name=f"replay {progress.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return progress

    async def backfill(self, instance: str, label: str, since: str) -> None:
        """Deliver the archive from ``since`` to one webhook alone (added with
        ``backfill_since``), in the background: the change that asked for it is not kept
        waiting, and a failure is logged, not turned into a refused change."""
        plan = ReplayPlan.to_webhook(instance, label, datetime.fromisoformat(since))

        async def begin() -> Progress | None:
            try:
                progress = await self.start(plan)
            except Exception as exc:
                log.warning(
                    "replay.backfill_failed",
                    instance=instance,
                    label=label,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return None
            log.info(
                "replay.backfill",
                instance=instance,
                label=label,
                replay=progress.id,
                matched=progress.matched,
            )
            return progress

        task = asyncio.create_task(begin(), name=f"backfill {instance}/{label}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def get(self, replay: str) -> Progress | None:
        return self._replays.get(replay)

    async def close(self) -> None:
        """Stop the replays in progress; each says how far it got."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _remember(self, progress: Progress) -> None:
        self._replays[progress.id] = progress
        finished = [k for k, p in self._replays.items() if p.state != "running"]
        for key in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._replays[key]
