"""Reading a stream while events keep coming: where it ends now, and a range through it."""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from router.amqp.streams import end_offset, read_range
from router.amqp.topology import StreamBinding, declare_stream
from tests.conftest import Cleanup


async def test_the_end_is_found_while_events_keep_coming(
    amqp: AbstractConnection, channel: AbstractChannel, exchange_name: str, cleanup: Cleanup
) -> None:
    stream = cleanup.queue(f"{exchange_name}.stream")
    await declare_stream(channel, StreamBinding(stream, frozenset(), "1h", 10_000_000))
    publishing = await amqp.channel(publisher_confirms=False)

    async def traffic() -> None:
        for n in range(600):  # three seconds of it, then it stops by itself
            await publishing.default_exchange.publish(aio_pika.Message(b"%d" % n), stream)
            await asyncio.sleep(0.005)

    flowing = asyncio.create_task(traffic())
    try:
        await asyncio.sleep(0.2)
        ends = []
        for _ in range(3):
            async with asyncio.timeout(2):  # found at once, not after the traffic stops
                ends.append(await end_offset(amqp, stream))
        assert ends == sorted(ends)
        assert len(set(ends)) == 3
        seen: list[int] = []

        async def heard(offset: int, _: AbstractIncomingMessage) -> None:
            seen.append(offset)

        async with asyncio.timeout(5):
            assert await read_range(amqp, stream, "first", ends[0], heard)
        # Every message through the first end, in order; the end itself is a marker.
        assert seen == sorted(seen)
        assert seen[-1] < ends[0]
    finally:
        flowing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flowing
