"""Small helpers for reading what reached a queue."""

from __future__ import annotations

import asyncio

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue


async def next_message(queue: AbstractQueue, timeout: float = 10.0) -> AbstractIncomingMessage:
    """The next message of ``queue``, acked; fails the test when none arrives in time."""
    async with asyncio.timeout(timeout), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            return message
    raise AssertionError(f"no message on {queue.name} within {timeout}s")


async def depth(queue: AbstractQueue) -> int:
    """Messages ready in the queue, as the broker counts them."""
    result = await queue.channel.declare_queue(queue.name, passive=True)
    return result.declaration_result.message_count or 0
