"""A RabbitMQ alarm, on a node of the test's own: ingest refuses at once and says why in
/readyz, and an event refused then is never published later."""

from __future__ import annotations

import asyncio
import secrets
import time

import aio_pika
import aiohttp
import orjson

from schemas.ids import new_event_id
from tests.reliability.nodes import RabbitNode
from tests.support.process import RouterProcess, clean_env

KEY = "alarm-key"


async def readiness(session: aiohttp.ClientSession, base: str) -> tuple[int, str]:
    async with session.get(f"{base}/readyz") as response:
        return response.status, await response.text()


async def until_ready_is(session: aiohttp.ClientSession, base: str, status: int) -> str:
    async with asyncio.timeout(10):
        while True:
            seen, body = await readiness(session, base)
            if seen == status:
                return body
            await asyncio.sleep(0.05)


async def post(
    session: aiohttp.ClientSession, base: str, event_id: str
) -> tuple[int, dict[str, object]]:
    body = {"event": "messages.upsert", "id": event_id, "data": {"n": 1}}
    async with session.post(f"{base}/events/shop", json=body, headers={"apikey": KEY}) as r:
        answer: dict[str, object] = orjson.loads(await r.read())
        return r.status, answer


async def test_an_event_refused_while_publishers_are_blocked_is_never_published() -> None:
    exchange = f"alarm-{secrets.token_hex(4)}"
    async with RabbitNode() as node:
        router = RouterProcess(
            clean_env(
                RABBITMQ_URI=node.amqp_url,
                RABBITMQ_EXCHANGE_NAME=exchange,
                AUTHENTICATION_API_KEY=KEY,
                LOG_LEVEL="WARN",
            ),
            "--only",
            "ingest",
        )
        await router.start(ready_within=30)
        connection = await aio_pika.connect(node.amqp_url)
        try:
            channel = await connection.channel()
            seen = await channel.declare_queue(
                f"{exchange}.seen", durable=True, arguments={"x-queue-type": "quorum"}
            )
            await seen.bind(exchange, "#")
            async with aiohttp.ClientSession() as session:
                await node.memory_alarm(True)
                reason = await until_ready_is(session, router.base, 503)
                assert "blocks publishers" in reason

                refused_id = new_event_id()
                started = time.monotonic()
                status, answer = await post(session, router.base, refused_id)
                assert status == 503
                assert time.monotonic() - started < 1.0  # refused at once, not after a timeout
                assert answer["error"] == "broker_unavailable"
                assert "blocks publishers" in str(answer["message"])

                await node.memory_alarm(False)
                await until_ready_is(session, router.base, 200)
                accepted_id = new_event_id()
                assert (await post(session, router.base, accepted_id))[0] == 202

            arrived = []
            async with asyncio.timeout(10), seen.iterator() as messages:
                async for message in messages:
                    await message.ack()
                    arrived.append(orjson.loads(message.body)["id"])
                    if arrived[-1] == accepted_id:
                        break
            assert arrived == [accepted_id]  # the refused event was never published
        finally:
            await connection.close()
            await router.stop()
