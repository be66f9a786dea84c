"""``router dlq list|replay|purge``: dead letters looked at, sent back for delivery, or
deleted, with a line on stderr saying what was left out and how far a replay got."""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from router.config.settings import Settings
from router.delivery import dlq as dlq_ops
from router.logging import quiet_libraries
from router.progress import progress


def dlq_name(settings: Settings, queue: str) -> str:
    """A role's dead-letter queue, or ``queue`` when it is one already."""
    from router.amqp.topology import AdapterQueues

    if queue.endswith(".dlq"):
        return queue
    return AdapterQueues.for_role(settings.rabbitmq.exchange_name, queue).dlq


def listing_summary(queue: str, shown: int, total: int) -> str:
    """What a listing left out, in words."""
    if total == 0 and shown == 0:
        return f"{queue} is empty"
    more = max(0, total - shown)
    if not more:
        return f"{shown} dead letter{'s' if shown != 1 else ''} in {queue}, all shown"
    return f"{shown} shown, {more} more in {queue} (--limit {total} shows them all)"


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:
    quiet_libraries()
    url = settings.rabbitmq.uri.get_secret_value()

    async def go() -> int:
        if args.action == "list":
            if args.queue is None:
                from router.app import dead_letter_queues, enabled_adapters

                exchange = settings.rabbitmq.exchange_name
                names = dead_letter_queues(exchange, enabled_adapters(settings)).values()
                async with dlq_ops.open_channel(url) as channel:
                    for name in names:
                        print(
                            orjson.dumps(
                                {"queue": name, "messages": await dlq_ops.count(channel, name)}
                            ).decode()
                        )
                return 0
            name = dlq_name(settings, args.queue)
            async with dlq_ops.open_channel(url) as channel:
                total = await dlq_ops.count(channel, name)
            shown = await dlq_ops.list_messages(url, name, args.limit or 100)
            for item in shown:
                print(orjson.dumps(item.as_dict()).decode())
            # Said on stderr, so stdout stays one JSON object per line.
            print(f"router: {listing_summary(name, len(shown), total)}", file=sys.stderr)
            return 0
        name = dlq_name(settings, args.queue)
        if args.action == "replay":
            with progress(f"replaying {name}") as report:

                def heard(done: int, total: int) -> None:
                    replayed[:] = [done, total]
                    report(done, total)

                done = await dlq_ops.replay(url, name, args.limit, heard)
            print(orjson.dumps({"queue": name, "replayed": done}).decode())
            return 0
        if not args.yes:
            print("router: purge deletes every dead letter; add --yes", file=sys.stderr)
            return 2
        print(orjson.dumps({"queue": name, "purged": await dlq_ops.purge(url, name)}).decode())
        return 0

    replayed = [0, 0]  # so far, of how many: what an interrupted replay did
    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        if args.action != "replay":
            return 130
        done, total = replayed
        print(
            f"router: stopped after replaying {done} of {total}; the rest are still dead "
            "letters (nothing was lost)",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # broker errors: a clear line, not a traceback
        print(f"router: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
