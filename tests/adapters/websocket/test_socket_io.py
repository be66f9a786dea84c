"""Socket.IO on the websocket role, with python-socketio's own client: namespaces, Evolution's
ways of giving the key, refusals as ``connect_error``, resuming, slow clients, long-polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import socketio

from adapters.websocket.metrics import DROPPED
from router.config.settings import Settings
from router.config.store import MemoryStore
from tests.support import evolution_data
from tests.support.app import API_KEY
from tests.support.gateway import Client, gateway, publish

AUTH = {"apikey": API_KEY}


class Listener:
    """A python-socketio client of one namespace, keeping what it receives in order."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.got: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.refused: Any = None
        self.sio.on("*", self._any, namespace=namespace)
        self.sio.on("connect_error", self._refused, namespace=namespace)

    async def _any(self, event: str, data: Any) -> None:
        await self.got.put((event, data))

    async def _refused(self, data: Any) -> None:
        self.refused = data

    async def connect(self, client: Client, transport: str = "websocket", **kwargs: Any) -> None:
        await self.sio.connect(
            str(client.make_url("/")),
            namespaces=[self.namespace],
            transports=[transport],
            wait_timeout=5,
            **kwargs,
        )

    async def next(self, timeout: float = 5) -> tuple[str, Any]:
        return await asyncio.wait_for(self.got.get(), timeout)

    async def take(self, n: int, timeout: float = 5) -> list[tuple[str, Any]]:
        return [await self.next(timeout) for _ in range(n)]

    async def nothing_more(self, within: float = 0.3) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.got.get(), within)


@contextlib.asynccontextmanager
async def listening(client: Client, namespace: str, **kwargs: Any) -> AsyncIterator[Listener]:
    listener = Listener(namespace)
    await listener.connect(client, **kwargs)
    try:
        yield listener
    finally:
        await listener.sio.disconnect()


async def refusal(client: Client, namespace: str, **kwargs: Any) -> str:
    """What the client's ``connect_error`` says when the router refuses it."""
    listener = Listener(namespace)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listener.connect(client, **kwargs)
    await listener.sio.disconnect()
    assert isinstance(listener.refused, dict), listener.refused
    return f"{listener.refused['message']} ({listener.refused['data']['reason']})"


async def test_instance_and_global_namespaces_get_wire_names_and_envelopes(
    ws_settings: Callable[..., Settings],
) -> None:
    async with (
        gateway(ws_settings()) as client,
        # joined before the instance has had any event (Evolution: "Invalid namespace")
        listening(client, "/alpha", auth={"apikey": API_KEY}) as alpha,
        listening(client, "/", auth={"apikey": API_KEY}) as everyone,
    ):
        first = await publish(client, "alpha", "MESSAGES_UPSERT", {"n": 1})
        second = await publish(client, "beta", "call", {"n": 2})
        event, envelope = await alpha.next()
        assert event == "messages.upsert"
        assert envelope["id"] == first
        assert envelope["instance"] == "alpha"
        assert envelope["data"] == {"n": 1}
        got = await everyone.take(2)
        assert [(e, d["id"]) for e, d in got] == [("messages.upsert", first), ("call", second)]
        await alpha.nothing_more()


async def test_the_key_comes_as_evolution_sends_it(ws_settings: Callable[..., Settings]) -> None:
    async with gateway(ws_settings()) as client:
        url = str(client.make_url("/")) + f"?apikey={API_KEY}"
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(url, namespaces=["/alpha"], transports=["websocket"], wait_timeout=5)
        assert sio.connected
        await sio.disconnect()
        header = socketio.AsyncClient(reconnection=False)
        await header.connect(
            str(client.make_url("/")),
            namespaces=["/alpha"],
            transports=["websocket"],
            headers={"apikey": API_KEY},
            wait_timeout=5,
        )
        assert header.connected
        await header.disconnect()
        assert "a token is required" in await refusal(client, "/alpha")
        assert "does not open" in await refusal(client, "/alpha", auth={"apikey": "wrong"})


async def test_an_instance_token_opens_its_own_namespace_only(
    ws_settings: Callable[..., Settings], tokens: MemoryStore
) -> None:
    async with gateway(ws_settings(), tokens) as client:
        async with listening(client, "/alpha", auth={"token": "alpha-token"}) as alpha:
            sent = await publish(client, "alpha", "call", {})
            assert (await alpha.next())[1]["id"] == sent
        assert "does not open instance 'beta'" in await refusal(
            client, "/beta", auth={"apikey": "alpha-token"}
        )
        assert "every instance" in await refusal(client, "/", auth={"apikey": "alpha-token"})


async def test_the_global_namespace_needs_global_events(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(global_events=False)) as client:
        assert "WEBSOCKET_GLOBAL_EVENTS" in await refusal(client, "/", auth={"apikey": API_KEY})


async def test_names_evolution_accepts_are_namespaces(
    ws_settings: Callable[..., Settings],
) -> None:
    async with (
        gateway(ws_settings()) as client,
        listening(client, "/Loja%20Centro", auth={"apikey": API_KEY}) as shop,
    ):
        sent = await publish(client, "Loja%20Centro", "call", {})
        event, envelope = await shop.next()
        assert (event, envelope["id"], envelope["instance"]) == ("call", sent, "Loja Centro")


async def test_resume_gives_exactly_the_missed_events_then_live(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings()) as client:
        async with listening(client, "/alpha", auth={"apikey": API_KEY}) as first:
            seen = await publish(client, "alpha", "call", {"n": -1})
            assert (await first.next())[1]["id"] == seen
        # An observer of every event shows when the gateway has read the missed ones, so they
        # are replayed, not sent live after the notice (which the gateway rightly does).
        observer = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        missed = [await publish(client, "alpha", "call", {"n": n}) for n in range(50)]
        observed = [orjson.loads((await observer.receive(timeout=10)).data)["id"] for _ in missed]
        assert observed == missed
        await observer.close()
        auth = {"apikey": API_KEY, "last_event_id": seen}
        async with listening(client, "/alpha", auth=auth) as again:
            got = await again.take(51)
            live = await publish(client, "alpha", "call", {"n": 50})
            assert (await again.next())[1]["id"] == live
            await again.nothing_more()
    assert [d["id"] for _, d in got[:50]] == missed
    assert got[50] == ("resumed", {"type": "resumed", "last_event_id": seen, "replayed": 50})


async def test_long_polling_gets_events_too(ws_settings: Callable[..., Settings]) -> None:
    async with (
        gateway(ws_settings()) as client,
        listening(client, "/alpha", transport="polling", auth={"apikey": API_KEY}) as alpha,
    ):
        sent = [await publish(client, "alpha", "call", {"n": n}) for n in range(5)]
        assert [d["id"] for _, d in await alpha.take(5)] == sent


async def test_a_slow_client_is_dropped_and_a_fast_one_gets_everything(
    ws_settings: Callable[..., Settings],
) -> None:
    async with (
        gateway(ws_settings(max_buffer=16)) as client,
        listening(client, "/alpha", auth={"apikey": API_KEY}) as fast,
        aiohttp.ClientSession() as session,
    ):
        dropped = DROPPED.labels(reason="slow", protocol="socketio")
        before = dropped._value.get()
        # A client that joins and then reads nothing: Engine.IO's handshake and the
        # namespace's CONNECT by hand over a WebSocket, then silence.
        url = client.make_url("/socket.io/").with_query(EIO="4", transport="websocket")
        slow = await session.ws_connect(url, max_msg_size=0)
        await slow.receive(timeout=5)  # Engine.IO's open packet
        await slow.send_str("40/alpha," + orjson.dumps({"apikey": API_KEY}).decode())
        assert (await slow.receive(timeout=5)).data.startswith("40/alpha,")
        assert slow._response.connection is not None
        transport = slow._response.connection.transport
        assert transport is not None
        transport.pause_reading()
        # More than loopback's socket buffers hold, so the router's writer for it is stuck.
        total, big = 300, "x" * 60_000
        reader = asyncio.create_task(fast.take(total, timeout=30))
        sent: list[str] = []
        for i in range(0, total, 10):
            batch = [{"event": "call", "data": {"i": j, "pad": big}} for j in range(i, i + 10)]
            response = await client.post("/events/alpha/batch", json=batch, headers=AUTH)
            assert response.status == 202
            sent.extend((await response.json())["ids"])
        assert [d["id"] for _, d in await reader] == sent
        # Still reading nothing: dropped once its queue has stood full for BEHIND_SECONDS.
        async with asyncio.timeout(10):
            while dropped._value.get() == before:
                await asyncio.sleep(0.1)
        transport.resume_reading()
        async with asyncio.timeout(20):  # whatever was in flight, then Engine.IO's close
            while (message := await slow.receive()).type == aiohttp.WSMsgType.TEXT:
                if message.data == "1":
                    break
                assert message.data.startswith('42/alpha,["call",')
        await slow.close()


NODE_CLIENT = Path(__file__).parents[2] / "support" / "node" / "socketio_client.mjs"


async def node_client(url: str, options: dict[str, Any], events: int) -> asyncio.subprocess.Process:
    """The official socket.io-client, run by Node.js (installed by ``./dev test``)."""
    return await asyncio.create_subprocess_exec(
        "node",
        str(NODE_CLIENT),
        url,
        orjson.dumps(options).decode(),
        str(events),
        stdout=asyncio.subprocess.PIPE,
    )


async def said(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 10)
    assert line, "the Node.js client ended without a word"
    value: dict[str, Any] = orjson.loads(line)
    return value


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]])
async def test_the_official_client_as_evolution_front_ends_use_it(
    ws_settings: Callable[..., Settings], transports: list[str]
) -> None:
    async with gateway(ws_settings()) as client:
        options = {"query": {"apikey": API_KEY}, "transports": transports}
        node = await node_client(str(client.make_url("/Loja%20Centro")), options, 2)
        try:
            assert "connected" in await said(node)
            first = await publish(client, "Loja%20Centro", "MESSAGES_UPSERT", {"n": 1})
            second = await publish(client, "Loja%20Centro", "connection.update", {"state": "open"})
            got = [await said(node), await said(node)]
            assert await asyncio.wait_for(node.wait(), 10) == 0
        finally:
            if node.returncode is None:
                node.kill()
                await node.wait()
    assert [(g["event"], g["data"]["id"]) for g in got] == [
        ("messages.upsert", first),
        ("connection.update", second),
    ]
    assert got[0]["data"]["instance"] == "Loja Centro"
    assert got[1]["data"]["data"] == {"state": "open"}


async def test_the_official_client_hears_why_it_is_refused(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings()) as client:
        node = await node_client(str(client.make_url("/alpha")), {"query": {"apikey": "no"}}, 1)
        answer = await said(node)
        assert await asyncio.wait_for(node.wait(), 10) == 0
    assert answer["connect_error"]["data"] == {"reason": "wrong_token"}
    assert "does not open instance 'alpha'" in answer["connect_error"]["message"]


async def test_allowed_hosts_need_no_key(ws_settings: Callable[..., Settings]) -> None:
    async with gateway(ws_settings(allowed_hosts="10.9.9.9")) as client:
        assert "a token is required" in await refusal(client, "/alpha")
    async with (
        gateway(ws_settings(allowed_hosts="127.0.0.1")) as client,
        listening(client, "/alpha") as alpha,
    ):
        sent = await publish(client, "alpha", "call", {})
        assert (await alpha.next())[1]["id"] == sent


async def test_a_ryzeapi_client_gets_ryzeapis_types_and_instance_data(
    ws_settings: Callable[..., Settings], tokens: MemoryStore
) -> None:
    auth = {"token": "alpha-token", "format": "ryze"}
    async with (
        gateway(ws_settings(), tokens) as client,
        listening(client, "/alpha", auth=auth) as alpha,
    ):
        await publish(client, "alpha", "presence.update", {})  # no RyzeAPI type
        sent = await publish(client, "alpha", "send.message", evolution_data.SENT)
        event, payload = await alpha.next()
        await alpha.nothing_more()
    assert event == "message.exchange"
    assert payload["instanceData"] == {"baseUrl": "", "instance": "alpha", "token": "alpha-token"}
    assert payload["id"] == sent
    assert (payload["data"]["direction"], payload["data"]["message"]["content"]) == (
        "outgoing",
        "at 3pm",
    )
