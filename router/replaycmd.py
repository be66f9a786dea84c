"""``router replay``: events sent again from the archive, from this process, with the
destinations and webhooks the settings and the configuration store give; progress on stderr,
the outcome as one JSON line on stdout."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson
from aio_pika.abc import AbstractConnection

from router.amqp.archive import archive_name
from router.amqp.broker import connect_any
from router.config.settings import Settings
from router.config.store import Sealer, open_store
from router.logging import quiet_libraries
from router.progress import progress as shown_progress
from router.replay.job import Progress
from router.replay.plan import PlanRefused
from router.replay.service import ReplayService


def add_parser(sub: Any) -> None:
    replay = sub.add_parser(
        "replay", help="send archived events again to their destinations, same event ids"
    )
    replay.add_argument("--since", help="ISO-8601 (UTC unless an offset is given)")
    replay.add_argument("--until", help="ISO-8601 (default: now)")
    replay.add_argument("--instance", help="one instance, by its real name")
    replay.add_argument(
        "--event", action="append", dest="events", help="one event (repeatable; default all)"
    )
    replay.add_argument(
        "--event-id", action="append", dest="event_ids", help="one event id (repeatable)"
    )
    replay.add_argument(
        "--to", help="a destination role (webhook, sqs, pusher, amqp) or webhook:<label>"
    )


def request_of(args: argparse.Namespace) -> dict[str, Any]:
    fields = ("since", "until", "instance", "events", "event_ids", "to")
    return {f: getattr(args, f) for f in fields if getattr(args, f) is not None}


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    quiet_libraries()
    done: list[Progress] = []  # what an interrupted replay had done

    async def go() -> int:
        from router.app import enabled_adapters, topology_for
        from router.delivery.livecfg import Configurable

        if not settings.router.archive_enabled:
            print("router: the archive is off (ROUTER_ARCHIVE_ENABLED=false)", file=sys.stderr)
            return 2
        store = open_store(
            settings.database.url or None,
            settings.router.store_path,
            sealer=Sealer.from_text(settings.router.secrets_key.get_secret_value()),
        )
        url = settings.rabbitmq.uri.get_secret_value()
        held: list[AbstractConnection] = []

        async def connect() -> AbstractConnection:
            if not held or held[0].is_closed:
                held[:] = [await connect_any(url, "router-replay")]
            return held[0]

        await store.open()
        try:
            adapters = enabled_adapters(settings)
            for adapter in adapters.values():
                if isinstance(adapter, Configurable):
                    await adapter.reload(store, None)
            topology = topology_for(settings, adapters)
            stream = archive_name(settings.rabbitmq.exchange_name)
            service = ReplayService(connect, stream, lambda: topology, store)
            try:
                replay = await service.prepare(await service.plan(request_of(args)))
            except PlanRefused as refused:
                print(f"router: replay refused: {refused}", file=sys.stderr)
                return 2
        finally:
            await store.close()
        state = replay.progress
        done.append(state)
        try:
            with shown_progress("replaying from the archive") as report:
                report(0, state.matched)
                replay.heard = lambda p: report(p.sent, p.matched)
                await replay.run()
        finally:
            for connection in held:
                await connection.close()
        print(orjson.dumps(state.as_dict()).decode())
        if state.state != "done":
            print(f"router: replay {state.state}: {state.error}", file=sys.stderr)
            return 1
        return 0

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        if done:
            state = done[0]
            print(
                f"router: stopped after sending {state.sent} of {state.matched}; run the same "
                "replay again to send them all (receivers see the sent ones again, same ids)",
                file=sys.stderr,
            )
        return 130
    except Exception as exc:  # broker and store errors: a clear line, not a traceback
        print(f"router: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
