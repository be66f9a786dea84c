"""``router tail PATTERN``: watch live events through a private, auto-deleted queue."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import orjson

from router.amqp.broker import connect_any
from router.amqp.topology import declare_exchange


def render(body: bytes, pretty: bool) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(parsed, option=option).decode()


async def tail(
    url: str,
    exchange: str,
    patterns: list[str],
    *,
    count: int | None = None,
    timeout: float | None = None,
    pretty: bool | None = None,
    write: Callable[[str], object] = print,
    ready: asyncio.Event | None = None,
    passive: bool = False,
) -> int:
    """Print each event routed by ``patterns`` until ``count`` arrived or ``timeout`` passed;
    returns how many were printed."""
    pretty = sys.stdout.isatty() if pretty is None else pretty
    seen = 0
    connection = await connect_any(url, "router-tail")
    try:
        channel = await connection.channel()
        # On a provisioned broker the exchange is only checked (no configure permission).
        ex = await declare_exchange(channel, exchange, passive=passive)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for pattern in patterns:
            await queue.bind(ex, routing_key=pattern)
        if ready is not None:
            ready.set()
        async with asyncio.timeout(timeout), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                write(render(message.body, pretty))
                seen += 1
                if count is not None and seen >= count:
                    break
    except TimeoutError:
        pass
    finally:
        await connection.close()
    return seen
