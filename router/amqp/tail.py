"""``router tail PATTERN``: watch live events through a private, auto-deleted queue.

In a terminal each event is one line (its time, instance, event and id); piped, or with
``--json``, each is its JSON on a line of its own; ``--pretty`` indents it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

import orjson
from rich.markup import escape

from router.amqp.broker import connect_any
from router.amqp.topology import declare_exchange

Style = Literal["line", "json", "pretty"]


def render(body: bytes, style: Style) -> str:
    """An event as ``style`` asks; a body that is not an event's JSON as it came. A line is
    rich markup (colour in a terminal)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        return escape(text) if style == "line" else text
    if style == "line":
        return line_of(parsed) or escape(orjson.dumps(parsed).decode())
    option = orjson.OPT_INDENT_2 if style == "pretty" else 0
    return orjson.dumps(parsed, option=option).decode()


def line_of(event: object) -> str | None:
    """``time instance event id``, or None when ``event`` is not an envelope."""
    if not isinstance(event, dict):
        return None
    fields = [event.get(k) for k in ("date_time", "instance", "event", "id")]
    if not all(isinstance(f, str) for f in fields[1:]):
        return None
    when, instance, name, event_id = (escape(str(f or "")) for f in fields)
    clock = when.partition("T")[2][:12] or when  # the time of day, to the millisecond
    return f"[dim]{clock}[/] [bold cyan]{instance}[/] [green]{name}[/] [dim]{event_id}[/]"


async def tail(
    url: str,
    exchange: str,
    patterns: list[str],
    *,
    count: int | None = None,
    timeout: float | None = None,
    style: Style = "json",
    write: Callable[[str], object] = print,
    ready: asyncio.Event | None = None,
    passive: bool = False,
) -> int:
    """Print each event routed by ``patterns`` until ``count`` arrived or ``timeout`` passed;
    returns how many were printed."""
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
                write(render(message.body, style))
                seen += 1
                if count is not None and seen >= count:
                    break
    except TimeoutError:
        pass
    finally:
        await connection.close()
    return seen
