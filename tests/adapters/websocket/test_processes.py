"""Gateways as real processes: several behind one ingest, and a gateway restarted under a client
of the SDK."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from adapters.websocket.sdk import EventClient
from tests.conftest import Cleanup
from tests.support.process import RouterProcess, clean_env

KEY = "k"


def gateway_env(amqp_url: str, exchange: str) -> dict[str, str]:
    return clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange,
        AUTHENTICATION_API_KEY=KEY,
        LOG_FORMAT="json",
        WEBSOCKET_ENABLED="true",
        WEBSOCKET_GLOBAL_EVENTS="true",
    )


async def publish(session: aiohttp.ClientSession, base: str, n: int, start: int = 0) -> list[str]:
    batch = [{"event": "messages.upsert", "data": {"i": i}} for i in range(start, start + n)]
    async with session.post(
        f"{base}/events/alpha/batch", json=batch, headers={"apikey": KEY}
    ) as response:
        assert response.status == 202, await response.text()
        ids: list[str] = (await response.json())["ids"]
        return ids


async def read_ids(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < n:
        message = await ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        ids.append(orjson.loads(message.data)["id"])
    return ids


async def test_every_gateway_process_delivers_every_event(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    env = gateway_env(amqp_url, exchange_name)
    ingest = RouterProcess(env, "--only", "ingest")
    gateways = [RouterProcess(env, "--only", "websocket") for _ in range(2)]
    await ingest.start()
    try:
        for gateway in gateways:
            await gateway.start()
        async with aiohttp.ClientSession() as session:
            clients = [await session.ws_connect(f"{g.base}/ws/alpha?token={KEY}") for g in gateways]
            everyone = await session.ws_connect(f"{gateways[1].base}/ws?token={KEY}")
            ids = await publish(session, ingest.base, 50)
            results = await asyncio.gather(*(read_ids(ws, 50) for ws in [*clients, everyone]))
            assert all(result == ids for result in results)
            for ws in [*clients, everyone]:
                await ws.close()
    finally:
        for process in (ingest, *gateways):
            await process.stop()


async def test_the_sdk_resumes_after_the_gateway_restarts(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    env = gateway_env(amqp_url, exchange_name)
    ingest = RouterProcess(env, "--only", "ingest")
    gateway = RouterProcess(env, "--only", "websocket")
    await ingest.start()
    await gateway.start()
    received: list[dict[str, Any]] = []
    everything = asyncio.Event()
    client = EventClient(
        gateway.base, "alpha", token=KEY, retry_delay_seconds=0.2, max_retry_delay_seconds=0.5
    )

    @client.on("MESSAGES_UPSERT")
    async def collect(event: dict[str, Any]) -> None:
        received.append(event)
        if len(received) == 30:
            everything.set()

    running = asyncio.create_task(client.run())
    try:
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(10):
                while client.connections == 0:
                    await asyncio.sleep(0.05)
            before = await publish(session, ingest.base, 10)
            async with asyncio.timeout(10):
                while len(received) < 10:
                    await asyncio.sleep(0.05)
            await gateway.kill()
            during = await publish(session, ingest.base, 10, 10)
            gateway = RouterProcess(env, "--only", "websocket", port=gateway.port)
            await gateway.start()
            async with asyncio.timeout(15):
                while client.connections < 2:
                    await asyncio.sleep(0.05)
            after = await publish(session, ingest.base, 10, 20)
            await asyncio.wait_for(everything.wait(), 15)
        assert [e["id"] for e in received] == before + during + after
        assert [e["data"]["i"] for e in received] == list(range(30))
    finally:
        await client.close()
        await asyncio.wait_for(running, 5)
        await gateway.stop()
        await ingest.stop()
