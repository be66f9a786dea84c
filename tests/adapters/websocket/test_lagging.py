"""Two gateways on one stream, one behind the other: the broker link of gateway B goes through
a proxy that a test can hold, so B reads the stream late or not at all for a while."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient

from adapters.websocket.gateway import WebsocketGateway
from router.app import ADAPTERS
from router.config.settings import Settings
from router.config.store import MemoryStore
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.proxy import TcpProxy

AUTH = {"apikey": API_KEY}
Client = TestClient[Any, Any]


class Pair:
    def __init__(self, a: Client, b: Client, proxy: TcpProxy) -> None:
        self.a, self.b, self.proxy = a, b, proxy

    def gateway_b(self) -> WebsocketGateway:
        gateway = self.b.app[ADAPTERS]["websocket"]
        assert isinstance(gateway, WebsocketGateway)
        return gateway

    async def publish(self, n: int) -> list[str]:
        batch = [{"event": "call", "data": {"i": i}} for i in range(n)]
        response = await self.a.post("/events/alpha/batch", json=batch, headers=AUTH)
        assert response.status == 202
        ids: list[str] = (await response.json())["ids"]
        return ids

    async def b_has_read(self, event_id: str) -> None:
        async with asyncio.timeout(10):
            while event_id not in self.gateway_b().hub.recent:
                await asyncio.sleep(0.02)


@pytest.fixture
async def pair(
    amqp_url: str, amqp_port: int, exchange_name: str, cleanup: Cleanup
) -> AsyncIterator[Pair]:
    proxy = TcpProxy("127.0.0.1", amqp_port)
    await proxy.start()
    ws = {"enabled": True, "global_events": True, "max_buffer": 64}
    settings_a = router_settings(amqp_url, exchange_name, websocket=ws)
    settings_b: Settings = router_settings(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}/", exchange_name, websocket=ws
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            running_app(settings_a, ["ingest", "websocket"], store=MemoryStore())
        )
        b = await stack.enter_async_context(
            running_app(settings_b, ["websocket"], store=MemoryStore())
        )
        try:
            yield Pair(a, b, proxy)
        finally:
            proxy.release()
    await proxy.cut()


async def texts(
    ws: aiohttp.ClientWebSocketResponse, n: int, timeout: float = 10
) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        message = await ws.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        out.append(orjson.loads(message.data))
    return out


async def test_resuming_on_a_gateway_that_is_behind(pair: Pair) -> None:
    on_a = await pair.a.ws_connect(f"/ws/alpha?token={API_KEY}")
    first = await pair.publish(3)
    await pair.b_has_read(first[-1])
    assert [f["id"] for f in await texts(on_a, 3)] == first

    pair.proxy.hold()  # B stops reading the stream
    later = await pair.publish(5)
    assert [f["id"] for f in await texts(on_a, 5)] == later
    await on_a.close()

    # The client moves to B, which has not read ``later`` yet, then B catches up.
    connecting = asyncio.create_task(
        pair.b.ws_connect(f"/ws/alpha?token={API_KEY}&last_event_id={later[-1]}")
    )
    await asyncio.sleep(0.3)
    pair.proxy.release()
    on_b = await connecting
    control = (await texts(on_b, 1))[0]
    assert control["type"] == "resumed"  # not history_unavailable: the id was only ahead
    assert control["replayed"] == 0
    live = await pair.publish(2)
    got = await texts(on_b, 2)
    assert [f["id"] for f in got] == live  # nothing the client had already seen on A
    with pytest.raises(TimeoutError):
        await on_b.receive(timeout=0.3)
    await on_b.close()


async def test_a_replay_that_stalls_closes_the_client_to_try_again(pair: Pair) -> None:
    on_b = await pair.b.ws_connect(f"/ws/alpha?token={API_KEY}")
    first = await pair.publish(1)
    assert (await texts(on_b, 1))[0]["id"] == first[0]
    await on_b.close()
    missed: list[str] = []
    for _ in range(4):
        missed += await pair.publish(500)
    await pair.b_has_read(missed[-1])

    back = await pair.b.ws_connect(f"/ws/alpha?token={API_KEY}&last_event_id={first[0]}")
    received = [f["id"] for f in await texts(back, 1)]
    pair.proxy.hold()  # the replay has started reading; now RabbitMQ goes quiet for it
    code = None
    while True:
        message = await back.receive(timeout=20)
        if message.type == aiohttp.WSMsgType.TEXT:
            received.append(orjson.loads(message.data)["id"])
            continue
        code = back.close_code
        break
    pair.proxy.release()
    assert code == 1013
    assert received == missed[: len(received)]
    assert len(received) < len(missed)
    # Reconnecting from the last id received gets the rest: nothing was lost. Gateway B starts
    # its broker connection over meanwhile, answering 503 until it is back.
    url = f"/ws/alpha?token={API_KEY}&last_event_id={received[-1]}"
    async with asyncio.timeout(15):
        while True:
            try:
                again = await pair.b.ws_connect(url)
                break
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status != 503:
                    raise
                await asyncio.sleep(0.2)
    rest: list[str] = []
    while len(rest) < len(missed) - len(received):
        frame = (await texts(again, 1))[0]
        if "type" not in frame:
            rest.append(frame["id"])
    assert received + rest == missed
    await again.close()
