"""Emptying an earlier release's retry queues, stopped at shutdown: the look at hand ends
before the connection closes, so no channel is cut off half-way."""

from __future__ import annotations

import asyncio
import logging

import aio_pika
import pytest

from router.amqp.topology import AdapterQueues
from router.delivery.adapter import RetryPolicy
from router.delivery.retryqueues import LegacyDrain, legacy_delays


async def test_stopping_the_drain_lets_the_look_at_hand_finish(
    amqp_url: str, exchange_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "scripted")
    assert len(legacy_delays(RetryPolicy())) > 20  # one channel each: a stop lands mid-way
    connection = await aio_pika.connect(amqp_url)
    try:
        drain = LegacyDrain(queues, RetryPolicy(), lambda: aio_pika.connect(amqp_url))
        ready = asyncio.Event()
        drain.start(connection, ready.wait)
        ready.set()
        await asyncio.sleep(0.005)  # a few queues looked at, most not yet
        with caplog.at_level(logging.DEBUG, logger="aiormq"):
            await drain.stop()
        assert not drain.done  # stopped before the end, not run to it
        assert not [r for r in caplog.records if "cancelled" in r.getMessage()]
        channel = await connection.channel()  # the connection is still whole
        await channel.close()
        assert not connection.is_closed
    finally:
        await connection.close()
