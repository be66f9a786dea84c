"""Socket.IO on the gateway's port, as Evolution API serves it: ``/socket.io/``.

A front-end written for Evolution (``io("https://host/<instance>", {query: {apikey}})``) points
at the router unchanged. The namespace ``/`` streams every instance (with
``WEBSOCKET_GLOBAL_EVENTS``), ``/<instance>`` one instance; each event is emitted under its wire
name (``messages.upsert``) with the envelope as its one argument, the very bytes ``/ws`` frames
carry. Unlike Evolution, an instance's namespace can be joined before its first event, and a
client that connects with ``auth: {last_event_id}`` first gets what it missed.

Clients share the ``/ws`` hub: the stream is read once per process, each event serialised once,
and a client that falls ``WEBSOCKET_MAX_BUFFER`` packets behind loses its connection (its
Socket.IO client reconnects on its own, and resumes when its ``auth`` gives the last id seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import socketio
from aiohttp import web

from adapters.websocket import contract
from adapters.websocket.access import Denied, presented_token
from adapters.websocket.events import Wanted
from adapters.websocket.frames import CLOSE_TOO_SLOW
from adapters.websocket.hub import CLOSE_TIMEOUT_SECONDS, Audience, Hub, WireFrame
from adapters.websocket.metrics import REFUSED
from adapters.websocket.session import Resume, resume_done
from router.http.openapi import documented
from router.http.requests import Refused
from router.logging import get_logger

if TYPE_CHECKING:
    from adapters.websocket.gateway import WebsocketGateway

log = get_logger("adapters.websocket")

PATH = "socket.io"
# Clients only connect; a packet larger than this from them is refused.
MAX_INCOMING_BYTES = 64 * 1024
# How long a client's connection may leave a full queue of packets untaken.
BEHIND_SECONDS = 1.0


class SocketIOClient(Audience):
    """A client of one namespace. Its frames go straight into its Engine.IO connection's send
    queue, which that connection's own writer drains at the client's pace.

    A burst read from the stream at once queues in full before any writer runs, so a full
    queue alone does not say the client is behind: once it holds ``WEBSOCKET_MAX_BUFFER``
    packets, the writer has ``BEHIND_SECONDS`` to take them all (a client that reads does so
    at once), or the client is dropped. The queue never holds more than ``HOLD_FACTOR`` times
    that."""

    protocol = "socketio"
    __slots__ = ("eio_sid", "hub", "namespace", "server", "sid", "transport_of", "watch")

    def __init__(
        self,
        server: socketio.AsyncServer,
        hub: Hub,
        sid: str,
        namespace: str,
        instance: str | None,
        events: frozenset[str] | None,
        max_buffer: int,
        peer: str,
        transport_of: Callable[[str], asyncio.BaseTransport | None],
    ) -> None:
        super().__init__(instance, events, max_buffer, peer)
        self.server, self.hub, self.sid, self.namespace = server, hub, sid, namespace
        self.eio_sid: str = server.manager.eio_sid_from_sid(sid, namespace)
        self.transport_of = transport_of
        self.watch: asyncio.Task[None] | None = None

    def _queue(self) -> asyncio.Queue[Any] | None:
        # python-engineio keeps one unbounded queue of packets per connection.
        socket = self.server.eio.sockets.get(self.eio_sid)
        return None if socket is None or socket.closed else socket.queue

    def send_now(self, wire: WireFrame) -> int:
        queue = self._queue()
        if queue is None:
            return 0  # gone: its disconnect handler removes it
        size = queue.qsize()
        if size >= self.hold_limit:
            return -1
        queue.put_nowait(wire.packet(self.namespace))
        if size + 1 >= self.max_buffer and self.watch is None:
            self.watch = asyncio.create_task(self._watch(queue))
        return 1

    async def _watch(self, queue: asyncio.Queue[Any]) -> None:
        try:
            async with asyncio.timeout(BEHIND_SECONDS):
                await queue.join()  # done the moment the writer has taken every packet
        except TimeoutError:
            if queue.qsize() >= self.max_buffer:
                self.hub.drop(self, CLOSE_TOO_SLOW, "too slow: send buffer full", "slow")
        finally:
            self.watch = None

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.cancel()

    async def put(self, wire: WireFrame) -> None:
        while (queue := self._queue()) is not None and queue.qsize() >= self.max_buffer:
            await queue.join()  # the connection's writer has taken what was queued
        if queue is None:
            raise ConnectionError("the Socket.IO client is gone")
        queue.put_nowait(wire.packet(self.namespace))

    async def close(self, code: int, message: str) -> None:
        # The Engine.IO connection, not the namespace: a client whose transport closes
        # reconnects by itself; one disconnected from a namespace by the server does not.
        transport = self.transport_of(self.eio_sid)  # before the session is forgotten
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self.server.eio.disconnect(self.eio_sid)
        # A peer that stopped reading never takes the close: its connection is cut.
        if isinstance(transport, asyncio.WriteTransport) and transport.get_write_buffer_size():
            transport.abort()


class Connections(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's manager, telling the endpoint when a client is connected: after its
    CONNECT packet is queued, so no event can reach it before that packet."""

    def __init__(self, connected: Any) -> None:
        super().__init__()
        self.connected = connected

    async def connect(self, sid: str, namespace: str) -> Any:
        result = await super().connect(sid, namespace)
        self.connected(sid, namespace)
        return result


class SocketIOEndpoint:
    def __init__(self, gateway: WebsocketGateway) -> None:
        self.gateway = gateway
        self.server = socketio.AsyncServer(
            async_mode="aiohttp",
            namespaces="*",
            cors_allowed_origins="*",  # a key or a token admits a client, not its page's origin
            client_manager=Connections(self._connected),
            max_http_buffer_size=MAX_INCOMING_BYTES,
            logger=False,
            engineio_logger=False,
        )
        self.server.on("connect", self._connect, namespace="*")
        self.server.on("disconnect", self._disconnect, namespace="*")
        self.pending: dict[tuple[str, str], tuple[SocketIOClient, str | None]] = {}
        self.clients: dict[tuple[str, str], SocketIOClient] = {}
        self.resumes: dict[tuple[str, str], asyncio.Task[None]] = {}
        # Engine.IO session -> the TCP connection of its WebSocket, once upgraded.
        self.websockets: dict[str, asyncio.BaseTransport] = {}

    def install(self, app: web.Application) -> None:
        documented(app, "GET", f"/{PATH}/", self._handle, contract.SOCKET_IO)
        documented(app, "POST", f"/{PATH}/", self._handle, contract.SOCKET_IO)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """python-engineio's handler, noting which TCP connection carries each WebSocket, so
        a client that stops reading can be cut off."""
        sid = request.query.get("sid")
        if sid and request.query.get("transport") == "websocket" and request.transport:
            self.websockets[sid] = request.transport
            if len(self.websockets) > 2 * len(self.clients) + 100:
                # Sessions that ended without joining a namespace leave theirs behind.
                for gone in [k for k, t in self.websockets.items() if t.is_closing()]:
                    del self.websockets[gone]
        response: web.StreamResponse = await self.server.eio.handle_request(request)
        return response

    def transport_of(self, eio_sid: str) -> asyncio.BaseTransport | None:
        found = self.websockets.get(eio_sid)
        if found is None:
            # A client that opened with a WebSocket at once: its first request is that socket.
            environ = self.server.environ.get(eio_sid) or {}
            request = environ.get("aiohttp.request")
            if isinstance(request, web.Request) and request.query.get("transport") == "websocket":
                found = request.transport
        return found

    async def close(self) -> None:
        for task in self.resumes.values():
            task.cancel()
        await self.server.shutdown()

    async def _connect(
        self, namespace: str, sid: str, environ: dict[str, Any], auth: Any = None
    ) -> bool:
        request: web.Request = environ["aiohttp.request"]
        given: dict[str, Any] = auth if isinstance(auth, dict) else {}
        try:
            instance = self.gateway.stream_instance(
                None if namespace == "/" else unquote(namespace[1:])
            )
            token = (
                text(given.get("apikey"))
                or text(given.get("token"))
                or presented_token(request, "socketio")
            )
            # The real peer: python-engineio's environ says 127.0.0.1 for every client.
            await self.gateway.check_access(request.remote, token, instance)
            events = given.get("events", request.query.get("events"))
            wanted = Wanted.parse(
                ",".join(map(str, events)) if isinstance(events, list) else text(events),
                text(given.get("format")) or request.query.get("format"),
            )
            last_event_id = self.gateway.resume_from(
                text(given.get("last_event_id")) or request.query.get("last_event_id")
            )
            await self.gateway.check_ready(last_event_id)
        except Refused as refused:
            REFUSED.labels(reason=refused.reason).inc()
            raise socketio.exceptions.ConnectionRefusedError(
                refused.message, {"reason": refused.reason}
            ) from None
        except Denied as denied:
            REFUSED.labels(reason=denied.reason).inc()
            denied.count("socketio")
            raise socketio.exceptions.ConnectionRefusedError(
                denied.detail, {"reason": denied.reason}
            ) from None
        client = SocketIOClient(
            self.server,
            self.gateway.hub,
            sid,
            namespace,
            instance,
            wanted.events,
            self.gateway.settings.max_buffer,
            request.remote or "?",
            self.transport_of,
        )
        client.format, client.types = wanted.payload_format, wanted.types
        self.pending[(sid, namespace)] = (client, last_event_id)
        return True

    def _connected(self, sid: str, namespace: str) -> None:
        found = self.pending.pop((sid, namespace), None)
        if found is None:
            return
        client, last_event_id = found
        key = (sid, namespace)
        self.clients[key] = client
        hub = self.gateway.hub
        if last_event_id is not None and hub.last_offset is not None:
            job = Resume(client, last_event_id, hub)
            task = asyncio.create_task(job.run(*self.gateway.replay_source()))
            task.add_done_callback(functools.partial(resume_done, client, hub))
            task.add_done_callback(lambda _: self.resumes.pop(key, None))
            self.resumes[key] = task
        else:
            hub.add(client)
        log.info(
            "websocket.connected",
            protocol="socketio",
            instance=client.instance or "*",
            peer=client.peer,
        )

    async def _disconnect(self, namespace: str, sid: str, reason: Any = None) -> None:
        key = (sid, namespace)
        self.pending.pop(key, None)
        resume = self.resumes.pop(key, None)
        if resume is not None:
            resume.cancel()
        client = self.clients.pop(key, None)
        if client is None:
            return
        if not any(c.eio_sid == client.eio_sid for c in self.clients.values()):
            self.websockets.pop(client.eio_sid, None)
        client.stop()
        if not client.closed:
            client.closed = True
            self.gateway.hub.discard(client)
        log.info(
            "websocket.disconnected",
            protocol="socketio",
            instance=client.instance or "*",
            peer=client.peer,
            reason=str(reason),
        )


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
