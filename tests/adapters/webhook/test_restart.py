"""Events waiting for a retry survive the webhook process being killed."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from router.amqp.topology import AdapterQueues, quantize_delay_ms
from tests.conftest import Cleanup
from tests.support.process import RouterProcess, clean_env
from tests.support.receiver import Answer, Receiver


async def test_killed_while_events_wait_for_retry_then_all_delivered(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receiver: Receiver
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    for name in (
        queues.work,
        queues.dlq,
        queues.delay(quantize_delay_ms(2)),
        queues.delay(quantize_delay_ms(4)),
    ):
        cleanup.queue(name)
    cleanup.exchange(f"{exchange_name}.dead")
    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        AUTHENTICATION_API_KEY="k",
        LOG_FORMAT="json",
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL=f"{receiver.base}/hook",
        WEBHOOK_EVENTS_CALL="true",
        WEBHOOK_RETRY_INITIAL_DELAY_SECONDS="2",
        WEBHOOK_RETRY_JITTER_FACTOR="0",
        # Every first attempt should reach the receiver, not be held back by the breaker.
        WEBHOOK_ENDPOINT_FAILURE_THRESHOLD="1000",
        WEBHOOK_ENDPOINT_MAX_IN_FLIGHT="32",
    )
    healthy = asyncio.Event()
    receiver.script = lambda _r, _n: Answer(status=200 if healthy.is_set() else 503)

    router = RouterProcess(env)
    await router.start()
    ids = []
    try:
        async with aiohttp.ClientSession() as session:
            for i in range(20):
                async with session.post(
                    f"{router.base}/events/shop",
                    json={"event": "call", "data": i},
                    headers={"apikey": "k"},
                ) as response:
                    assert response.status == 202
                    ids.append((await response.json())["id"])
        for _ in range(20):
            await receiver.next()  # every first attempt failed: all now wait in the retry queue
    finally:
        await router.kill()  # also when the test fails: no process outlives it

    healthy.set()
    restarted = RouterProcess(env, "--only", "webhook")
    await restarted.start()
    try:
        delivered: set[str] = set()
        async with asyncio.timeout(20):
            while delivered != set(ids):
                got = await receiver.next()
                delivered.add(orjson.loads(got.body)["id"])
    finally:
        await restarted.stop()
    assert delivered == set(ids)
