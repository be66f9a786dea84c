"""WebSocket fan-out: latency from ingest to the last of N connected clients, and memory per idle
connection, beside a raw aiohttp broadcast server (no broker, no stream) in the same run; and
the same fan-out to N Socket.IO clients, beside a raw python-socketio broadcast server.

    python bench/websocket.py [--clients 1000] [--events 200] [--idle 5000]

Latency: one event every 20 ms is POSTed to the router's ingest (ingest and websocket roles in
one process); each event's latency is the time from the POST until the last client has it. The
raw server gets the same bytes by POST and writes them to every socket (the raw Socket.IO server
emits them to a namespace, as a python-socketio application would). Memory: the server
process's RSS before and after ``--idle`` connections, divided by their number. The Socket.IO
clients speak the protocol over plain aiohttp WebSockets, so the bench process can hold
thousands of them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import aiohttp  # noqa: E402
from aiohttp import WSMsgType, web  # noqa: E402

from bench.common import (  # noqa: E402
    AMQP_URL,
    DATA,
    drop_declared,
    free_port,
    router_env,
    start_router,
    wait_http,
)
from schemas import build_envelope  # noqa: E402

KEY = "bench-key"
ID_SLICE = slice(7, 43)  # an envelope's JSON starts with {"id":"<36 characters>"


# -- the raw baseline: a broadcast server with nothing in between ------------------------------


def raw_server(port: int) -> None:
    clients: set[web.WebSocketResponse] = set()

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        clients.add(socket)
        try:
            async for _ in socket:
                pass
        finally:
            clients.discard(socket)
        return socket

    async def publish(request: web.Request) -> web.Response:
        body = await request.read()
        for socket in list(clients):
            await socket.send_frame(body, WSMsgType.TEXT)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_get("/ws/{instance}", ws)
    app.router.add_post("/events/{instance}", publish)
    serve_baseline(app, port)


def raw_socketio_server(port: int) -> None:
    import orjson
    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp", namespaces="*")

    async def publish(request: web.Request) -> web.Response:
        envelope = orjson.loads(await request.read())
        await sio.emit(envelope["event"], envelope, namespace="/" + request.match_info["instance"])
        return web.Response(status=202)

    app = web.Application()
    sio.attach(app)
    app.router.add_post("/events/{instance}", publish)
    serve_baseline(app, port)


def serve_baseline(app: web.Application, port: int) -> None:
    """A baseline server with the ``/readyz`` the bench waits for, on the event loop the router
    runs on (uvloop when installed)."""
    from router.cli import new_event_loop

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/readyz", health)
    web.run_app(
        app, host="127.0.0.1", port=port, print=None, access_log=None, loop=new_event_loop()
    )


async def start_raw(port: int, kind: str = "--raw-server") -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, kind, str(port), cwd=ROOT)
    await wait_http(f"http://127.0.0.1:{port}/readyz")
    return proc


# -- clients ----------------------------------------------------------------------------------


class Fleet:
    """N WebSocket clients recording when each event id reached each of them."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.last_seen: dict[bytes, float] = {}
        self.counts: dict[bytes, int] = {}
        self.complete: dict[bytes, asyncio.Event] = {}
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.readers: list[asyncio.Task[None]] = []

    def expect(self, event_id: bytes) -> asyncio.Event:
        return self.complete.setdefault(event_id, asyncio.Event())

    async def connect(self, session: aiohttp.ClientSession, url: str, read: bool = True) -> None:
        for start in range(0, self.n, 200):
            count = min(self.n, start + 200) - start
            self.sockets += await asyncio.gather(*(self._join(session, url) for _ in range(count)))
        if read:
            self.readers = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _join(
        self, session: aiohttp.ClientSession, url: str
    ) -> aiohttp.ClientWebSocketResponse:
        return await session.ws_connect(url, autoping=True)

    async def _event_id(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bytes | None:
        """The id of the event a text frame carries; None for a frame that carries none."""
        return text.encode()[ID_SLICE]

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            event_id = await self._event_id(ws, message.data)
            if event_id is None:
                continue
            now = time.perf_counter()
            seen = self.counts.get(event_id, 0) + 1
            self.counts[event_id] = seen
            if seen == self.n:
                self.last_seen[event_id] = now
                self.expect(event_id).set()

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


class SocketIOFleet(Fleet):
    """N Socket.IO clients of one namespace: Engine.IO's handshake and the namespace's CONNECT
    by hand over a WebSocket, pings answered, events read for their envelope's id."""

    def __init__(self, n: int, namespace: str) -> None:
        super().__init__(n)
        self.namespace = namespace

    async def _join(
        self, session: aiohttp.ClientSession, url: str
    ) -> aiohttp.ClientWebSocketResponse:
        ws = await session.ws_connect(url, autoping=True)
        opened = await ws.receive(timeout=30)
        if opened.type != WSMsgType.TEXT or not opened.data.startswith("0"):
            raise RuntimeError(f"not Engine.IO's open packet: {opened}")
        await ws.send_str(f'40{self.namespace},{{"apikey":"{KEY}"}}')
        joined = await ws.receive(timeout=30)
        if not str(joined.data).startswith(f"40{self.namespace},"):
            raise RuntimeError(f"the namespace refused: {joined.data}")
        return ws

    async def _event_id(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bytes | None:
        if text == "2":  # Engine.IO's ping
            await ws.send_str("3")
            return None
        start = text.find('"id":"') + 6
        return text[start : start + 36].encode()


async def latencies(
    base: str,
    n_clients: int,
    n_events: int,
    post: Callable[[aiohttp.ClientSession, bytes], Awaitable[None]],
    socket_io: bool = False,
) -> list[float]:
    fleet = SocketIOFleet(n_clients, "/bench") if socket_io else Fleet(n_clients)
    path = "/socket.io/?EIO=4&transport=websocket" if socket_io else f"/ws/bench?token={KEY}"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await fleet.connect(session, f"{base.replace('http', 'ws')}{path}")
        results = []
        for _ in range(n_events):
            envelope = build_envelope("bench", "messages.upsert", DATA)
            body = envelope.to_json()
            done = fleet.expect(envelope.id.encode())
            sent = time.perf_counter()
            await post(session, body)
            await asyncio.wait_for(done.wait(), 30)
            results.append(fleet.last_seen[envelope.id.encode()] - sent)
            await asyncio.sleep(0.02)
        await fleet.close()
    return results


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle_memory(base: str, pid: int, n: int) -> float:
    """KB of server RSS per idle connection."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        before = rss_kb(pid)
        fleet = Fleet(n)
        await fleet.connect(
            session, f"{base.replace('http', 'ws')}/ws/idle?token={KEY}", read=False
        )
        await asyncio.sleep(2)  # let the server settle after the handshakes
        after = rss_kb(pid)
        await fleet.close()
    return (after - before) / n


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def main(args: argparse.Namespace) -> None:
    exchange = f"bench-ws-{uuid.uuid4().hex[:8]}"
    port, raw_port = free_port(), free_port()
    env = router_env(
        exchange,
        port,
        AUTHENTICATION_API_KEY=KEY,
        WEBSOCKET_ENABLED="true",
        WEBSOCKET_GLOBAL_EVENTS="true",
        WEBHOOK_GLOBAL_ENABLED="false",
    )
    router = await start_router(env, "ingest", "websocket")
    raw = await start_raw(raw_port)
    sio_port = free_port()
    raw_sio = await start_raw(sio_port, "--raw-socketio-server")
    headers = {"apikey": KEY, "Content-Type": "application/json"}
    base, raw_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{raw_port}"
    sio_base = f"http://127.0.0.1:{sio_port}"

    async def via_router(session: aiohttp.ClientSession, body: bytes) -> None:
        async with session.post(f"{base}/events/bench", data=body, headers=headers) as r:
            assert r.status == 202, await r.text()

    async def via_raw(session: aiohttp.ClientSession, body: bytes) -> None:
        async with session.post(f"{raw_base}/events/bench", data=body) as r:
            assert r.status == 202

    async def via_raw_sio(session: aiohttp.ClientSession, body: bytes) -> None:
        async with session.post(f"{sio_base}/events/bench", data=body) as r:
            assert r.status == 202

    try:
        raw_lat = await latencies(raw_base, args.clients, args.events, via_raw)
        router_lat = await latencies(base, args.clients, args.events, via_router)
        raw_sio_lat = await latencies(sio_base, args.clients, args.events, via_raw_sio, True)
        router_sio_lat = await latencies(base, args.clients, args.events, via_router, True)
        raw_mem = await idle_memory(raw_base, raw.pid, args.idle)
        router_mem = await idle_memory(base, router.pid, args.idle)
    finally:
        for proc in (router, raw, raw_sio):
            proc.terminate()
            await proc.wait()
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        await channel.queue_delete(f"{exchange}.websocket")
        await drop_declared(channel, exchange, ("webhook",))
        await connection.close()
    r50, r99 = summary(router_lat)
    b50, b99 = summary(raw_lat)
    print(f"fan-out to {args.clients} clients, {args.events} events, ingest -> last client:")
    print(f"  raw broadcast : p50 {b50:6.1f} ms  p99 {b99:6.1f} ms")
    print(f"  router        : p50 {r50:6.1f} ms  p99 {r99:6.1f} ms  (p99 {r99 / b99:.2f}x raw)")
    s50, s99 = summary(router_sio_lat)
    c50, c99 = summary(raw_sio_lat)
    print(f"fan-out to {args.clients} Socket.IO clients, {args.events} events:")
    print(f"  raw python-socketio : p50 {c50:6.1f} ms  p99 {c99:6.1f} ms")
    print(
        f"  router /socket.io/  : p50 {s50:6.1f} ms  p99 {s99:6.1f} ms  "
        f"(p99 {s99 / c99:.2f}x raw python-socketio, {s99 / r99:.2f}x router /ws)"
    )
    print(f"idle connections ({args.idle}), server RSS per connection:")
    print(f"  raw broadcast : {raw_mem:5.1f} KB")
    print(f"  router        : {router_mem:5.1f} KB  ({router_mem / raw_mem:.2f}x raw)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--raw-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--raw-socketio-server", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.raw_server:
        raw_server(arguments.raw_server)
    elif arguments.raw_socketio_server:
        raw_socketio_server(arguments.raw_socketio_server)
    else:
        asyncio.run(main(arguments))
