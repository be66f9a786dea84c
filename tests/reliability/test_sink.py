"""The sink's fault modes and the producer's retries, against loopback stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from schemas.ids import is_event_id
from tests.reliability.load import Producer
from tests.reliability.processes import free_ports, port_accepts
from tests.reliability.sink import Delivery, Sink, stop_flapping


async def post(url: str, body: bytes, timeout: float = 5) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(url, data=body) as response,
    ):
        await response.read()
        return response.status


def event(event_id: str, seq: int) -> bytes:
    return orjson.dumps({"event": "messages.upsert", "id": event_id, "data": {"seq": seq}})


async def test_sink_records_2xx_answers_only() -> None:
    async with Sink() as sink:
        assert await post(sink.url, event("a", 1)) == 200
        sink.failing(503)
        assert await post(sink.url, event("b", 2)) == 503
        sink.failing(None)
        assert await post(sink.url, event("c", 3)) == 200
    assert [(d.id, d.seq) for d in sink.deliveries] == [("a", 1), ("c", 3)]
    assert sink.answers == Counter({200: 2, 503: 1})
    assert sink.requests == 3


async def test_sink_latency_delays_the_answer() -> None:
    async with Sink() as sink:
        sink.latency = 0.4
        started = time.monotonic()
        assert await post(sink.url, event("a", 1)) == 200
        assert time.monotonic() - started >= 0.4
        assert sink.deliveries[0].at - started >= 0.4


async def test_sink_down_refuses_connections_and_up_keeps_the_port() -> None:
    async with Sink() as sink:
        port = sink.port
        assert await port_accepts(port)
        await sink.down()
        assert not sink.is_up
        assert not await port_accepts(port)
        with pytest.raises(aiohttp.ClientConnectorError):
            await post(sink.url, event("a", 1))
        await sink.up()
        assert sink.port == port
        assert await post(sink.url, event("b", 2)) == 200
    assert [d.id for d in sink.deliveries] == ["b"]


async def test_sink_down_cuts_a_request_in_flight_without_recording_it() -> None:
    async with Sink() as sink:
        sink.latency = 0.5
        attempt = asyncio.create_task(post(sink.url, event("a", 1)))
        for _ in range(50):
            if sink.requests:
                break
            await asyncio.sleep(0.02)
        await sink.down()
        with pytest.raises(aiohttp.ClientError):
            await attempt
        await asyncio.sleep(0.7)  # the handler wakes up and finds its connection gone
        assert sink.deliveries == []
        assert sink.cut_off == 1
        await sink.up()
        sink.latency = 0
        assert await post(sink.url, event("a", 1)) == 200
    assert [d.id for d in sink.deliveries] == ["a"]


async def test_sink_flaps_for_a_bounded_time_and_ends_up() -> None:
    async with Sink() as sink:
        port = sink.port
        task = sink.flap(period=0.2, duration=1.0)
        states = []
        for _ in range(12):
            states.append(await port_accepts(port, 0.2))
            await asyncio.sleep(0.1)
        async with asyncio.timeout(2):
            await task
        assert True in states
        assert False in states
        assert sink.is_up
        assert sink.port == port
        assert await port_accepts(port)
        cancelled = sink.flap(period=5, duration=30)
        await asyncio.sleep(0.1)
        assert not sink.is_up
        await stop_flapping(cancelled)
        assert sink.is_up
        assert sink.port == port


class StubRouter:
    """Answers 503 with a long Retry-After to the first ``refusals`` attempts of each id, then
    202 with the id."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.bodies: dict[str, list[bytes]] = {}
        self.paths: set[str] = set()
        self.keys: set[str | None] = set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = orjson.loads(body)["id"]
        seen = self.bodies.setdefault(event_id, [])
        seen.append(body)
        self.paths.add(request.path)
        self.keys.add(request.headers.get("apikey"))
        if len(seen) <= self.refusals:
            return web.json_response(
                {"error": "broker_unavailable"}, status=503, headers={"Retry-After": "5"}
            )
        return web.json_response({"id": event_id}, status=202)


@contextlib.asynccontextmanager
async def serve(handler: StubRouter) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/events/{instance}", handler.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site.port}"
    finally:
        await runner.cleanup()


async def test_producer_retries_the_same_body_and_caps_retry_after() -> None:
    stub = StubRouter(refusals=2)
    async with serve(stub) as base:
        producer = Producer(
            base, "shop", "k", count=40, rate=400, concurrency=8, max_retry_pause=0.1
        )
        result = await producer.run()
    assert stub.paths == {"/events/shop"}
    assert stub.keys == {"k"}
    assert len(result.accepted) == 40
    assert [s.seq for s in result.sent] == list(range(40))
    for sent in result.sent:
        assert is_event_id(sent.id)
        assert sent.answered_id == sent.id
        assert sent.attempts == 3
        bodies = stub.bodies[sent.id]
        assert len(bodies) == 3
        assert len(set(bodies)) == 1
        assert orjson.loads(bodies[0])["data"]["seq"] == sent.seq
    assert result.unavailable == 80
    assert result.connection_errors == 0
    # Retry-After says 5 s; the cap keeps the whole run far below one such pause.
    assert result.finished_at - result.started_at < 3
    window = result.failure_window
    assert window is not None
    assert 0 < window < 3
    assert 0 < result.failing_seconds <= result.finished_at - result.started_at
    assert result.longest_request < 1


async def test_producer_gives_up_at_the_deadline_when_nothing_answers() -> None:
    (port,) = free_ports(1)
    producer = Producer(
        f"http://127.0.0.1:{port}", "shop", "k", count=5, rate=50, deadline=1.0, retry_pause=0.05
    )
    started = time.monotonic()
    result = await producer.run()
    assert time.monotonic() - started < 2.5
    assert result.accepted == []
    assert result.connection_errors >= 5
    assert all(s.attempts >= 2 and s.status is None for s in result.sent)
    window = result.failure_window
    assert window is not None
    # An attempt begun just before the deadline fails just after it: a refused connection
    # takes a few milliseconds, well under one retry pause.
    assert 0.5 < window <= 1.0 + 0.05
    assert 0.5 < result.failing_seconds <= 1.0 + 0.05


async def test_delivery_times_come_from_the_monotonic_clock() -> None:
    async with Sink() as sink:
        before = time.monotonic()
        assert await post(sink.url, event("a", 1)) == 200
        after = time.monotonic()
    (delivery,) = sink.deliveries
    assert isinstance(delivery, Delivery)
    assert before <= delivery.at <= after
