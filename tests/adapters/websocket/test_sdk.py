"""The SDK against the real gateway where it can be, and against a scripted WebSocket peer on
loopback for what a healthy gateway never sends (a duplicate frame)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.websocket.sdk import EventClient, GatewayRefused, GatewayUnreachable
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.process import free_port

Event = dict[str, Any]


def envelope(event_id: str, event: str) -> bytes:
    return orjson.dumps({"id": event_id, "event": event, "instance": "alpha", "data": None})


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[TestServer, list[str]]]:
    """Sends A, B, A again and a gap notice, then closes; records each request's query."""
    queries: list[str] = []

    async def stream(request: web.Request) -> web.WebSocketResponse:
        queries.append(request.query_string)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        a = "0190a000-0000-7000-8000-00000000000a"
        b = "0190a000-0000-7000-8000-00000000000b"
        for frame in (
            envelope(a, "messages.upsert"),
            envelope(b, "call"),
            envelope(a, "messages.upsert"),
        ):
            await ws.send_str(frame.decode())
        await ws.send_str(
            orjson.dumps({"type": "history_unavailable", "last_event_id": "x"}).decode()
        )
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws/alpha", stream)
    server = TestServer(app, host="127.0.0.1")
    async with server:
        yield server, queries


async def test_handlers_by_type_each_event_once_and_gaps(
    scripted: tuple[TestServer, list[str]],
) -> None:
    server, queries = scripted
    client = EventClient(
        str(server.make_url("")),
        "alpha",
        token="t",
        events=["messagesUpsert", "CALL"],
        retry_delay_seconds=0.05,
    )
    upserts: list[str] = []
    everything: list[str] = []
    gaps: list[Event] = []
    client.on("MESSAGES_UPSERT")(lambda e: upserts.append(e["id"]))

    client.on()(lambda e: everything.append(e["event"]))

    @client.on_gap
    async def gap(notice: Event) -> None:
        gaps.append(notice)
        if len(gaps) == 2:
            await client.close()

    await asyncio.wait_for(client.run(), 10)
    # The second connection sends the same frames again: nothing is handled twice.
    assert upserts == ["0190a000-0000-7000-8000-00000000000a"]
    assert everything == ["messages.upsert", "call"]
    assert [g["type"] for g in gaps] == ["history_unavailable"] * 2
    assert queries[0] == "events=CALL,MESSAGES_UPSERT"
    assert (
        queries[1]
        == "events=CALL,MESSAGES_UPSERT&last_event_id=0190a000-0000-7000-8000-00000000000b"
    )


async def test_a_refusal_is_raised_not_retried(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    settings = router_settings(amqp_url, exchange_name, websocket={"enabled": True})
    async with running_app(settings, ["websocket"]) as app:
        client = EventClient(str(app.make_url("")), "alpha", token="wrong", max_retries=50)
        with pytest.raises(GatewayRefused) as refused:
            await asyncio.wait_for(client.run(), 5)
        assert refused.value.status == 401
        assert "does not open instance 'alpha'" in str(refused.value)
        good = EventClient(str(app.make_url("")), "alpha", token=API_KEY)
        running = asyncio.create_task(good.run())
        async with asyncio.timeout(5):
            while good.connections == 0:
                await asyncio.sleep(0.02)
        await good.close()
        await asyncio.wait_for(running, 5)  # returns cleanly, no exception


async def test_gives_up_after_max_retries() -> None:
    client = EventClient(
        f"http://127.0.0.1:{free_port()}", "alpha", max_retries=2, retry_delay_seconds=0.05
    )
    with pytest.raises(GatewayUnreachable):
        await asyncio.wait_for(client.run(), 5)


def test_stream_url() -> None:
    url: Callable[..., str] = lambda *a, **k: EventClient(*a, **k).stream_url()  # noqa: E731
    assert url("https://r.example/base/", "alpha") == "wss://r.example/base/ws/alpha"
    assert url("http://r", "Loja Centro/1") == "ws://r/ws/Loja%20Centro%2F1"
    assert url("http://r:8080", None, events=["call"]) == "ws://r:8080/ws?events=CALL"
    resumed = url("ws://r", "a", last_event_id="0190a000-0000-7000-8000-00000000000a")
    assert resumed == "ws://r/ws/a?last_event_id=0190a000-0000-7000-8000-00000000000a"


def test_unknown_event_names_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="unknown event"):
        EventClient("http://r", "a", events=["MESAGES_UPSERT"])
    with pytest.raises(ValueError, match="unknown event"):
        EventClient("http://r", "a").on("nope")


async def test_a_vzaps_client_takes_vzaps_types(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    settings = router_settings(
        amqp_url, exchange_name, websocket={"enabled": True, "global_events": True}
    )
    async with running_app(settings, ["ingest", "websocket"]) as app:
        client = EventClient(
            str(app.make_url("")),
            "alpha",
            token=API_KEY,
            payload_format="vzaps",
            events=["Connected", "Message"],
        )
        connected: list[Event] = []
        everything: list[str] = []
        client.on("Connected")(connected.append)
        client.on()(lambda e: everything.append(e["type"]))
        running = asyncio.create_task(client.run())
        async with asyncio.timeout(5):
            while client.connections == 0:
                await asyncio.sleep(0.02)
        for event, data in (
            ("connection.update", {"state": "close"}),  # Disconnected: not asked for
            ("messages.upsert", {"n": 1}),
            ("connection.update", {"state": "open"}),
        ):
            answer = await app.post(
                "/events/alpha", json={"event": event, "data": data}, headers={"apikey": API_KEY}
            )
            assert answer.status == 202
        async with asyncio.timeout(5):
            while len(everything) < 2:
                await asyncio.sleep(0.02)
        await client.close()
        await asyncio.wait_for(running, 5)
    assert everything == ["Message", "Connected"]
    assert connected[0]["data"] == {"type": "Connected", "event": {}}
    assert "?format=vzaps&events=Connected%2CMessage&last_event_id=" in client.stream_url()


def test_a_name_the_shape_does_not_have_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="not a vzaps type"):
        EventClient("http://r", "a", payload_format="vzaps", events=["messages.upsert"])
    EventClient("http://r", "a", payload_format="vzaps", events=["All"])
