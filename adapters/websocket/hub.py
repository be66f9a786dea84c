"""Who is connected and what each one wants.

The gateway hands the hub each event once, already serialised; the hub offers those bytes to
every client that may and wants to see it, ``/ws`` and Socket.IO clients alike. Offering never
waits: each client has a bounded queue, and a client whose queue is full is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import ClassVar, Final

import orjson
from aiohttp import WSMsgType, web
from engineio.packet import MESSAGE, Packet

from adapters.websocket.frames import CLOSE_TOO_SLOW
from adapters.websocket.metrics import CLIENTS, DROPPED, FRAMES_SENT
from router.logging import get_logger
from schemas.ids import event_time_ms
from schemas.shapes import PayloadFormat, shaped

log = get_logger("adapters.websocket")

# While a client resumes, live frames wait beside its queue; this many times its buffer at most.
HOLD_FACTOR: Final = 16
# Event id -> stream offset of the latest events seen, so a resume starts at the exact offset.
RECENT_IDS: Final = 100_000
CLOSE_TIMEOUT_SECONDS: Final = 2.0
# A client that is keeping up (nothing queued, little unsent in its socket) gets the frame
# written at once, without waking its writer; past this many unsent bytes it waits its turn.
DIRECT_WRITE_LIMIT: Final = 64 * 1024

# (instance, event) -> (may go to that instance's clients, may go to the all-instances clients)
Permits = Callable[[str, str], tuple[bool, bool]]


class Audience:
    """A connected client as the hub sees it, whatever protocol carries its frames: what it
    wants, whether it is resuming (live frames held back meanwhile), and how to reach it."""

    protocol: ClassVar[str]
    __slots__ = (
        "closed",
        "events",
        "format",
        "held",
        "hold_limit",
        "instance",
        "max_buffer",
        "peer",
        "types",
    )

    def __init__(
        self, instance: str | None, events: frozenset[str] | None, max_buffer: int, peer: str
    ) -> None:
        self.instance = instance  # None: every instance (``/ws``, Socket.IO's ``/``)
        self.events = events  # None: every event it may see
        # The payload's shape, and the types of that shape it asked for (None: every one).
        self.format: PayloadFormat = "evolution"
        self.types: frozenset[str] | None = None
        self.peer = peer
        self.max_buffer = max_buffer
        # Live frames kept back while the client resumes, else None.
        self.held: deque[tuple[int, WireFrame]] | None = None
        self.hold_limit = max_buffer * HOLD_FACTOR
        self.closed = False

    def sees(self, instance: str, event: str, to_instance: bool, to_all: bool) -> bool:
        """Whether this client gets an event, given who may see it (``Hub.permits``)."""
        mine = to_all if self.instance is None else to_instance and instance == self.instance
        return mine and (self.events is None or event in self.events)

    def offer(self, offset: int, wire: WireFrame) -> int:
        """Hand over a live frame without waiting: 1 when written at once, 0 when queued or
        held, -1 when the client is too far behind."""
        if self.held is not None:
            if len(self.held) >= self.hold_limit:
                return -1
            self.held.append((offset, wire))
            return 0
        return self.send_now(wire)

    def send_now(self, wire: WireFrame) -> int:
        raise NotImplementedError

    async def put(self, wire: WireFrame) -> None:
        """Send a frame in order, waiting while the client is behind (a resume's frames)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop writing to the client (it is being dropped)."""

    async def close(self, code: int, message: str) -> None:
        raise NotImplementedError


class Client(Audience):
    """A ``/ws`` client: a bounded queue drained by its own writer task, and the same frame
    bytes as every other client written at once while it keeps up."""

    protocol = "websocket"
    __slots__ = ("busy", "queue", "transport", "writer", "ws")

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        instance: str | None,
        events: frozenset[str] | None,
        max_buffer: int,
    ) -> None:
        super().__init__(instance, events, max_buffer, request.remote or "?")
        self.ws = ws
        self.transport = request.transport
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(max_buffer)
        self.writer: asyncio.Task[None] | None = None
        self.busy = False  # the writer holds a frame (sending it, or waiting for the socket)

    def send_now(self, wire: WireFrame) -> int:
        transport = self.transport
        if (
            not self.busy
            and self.queue.empty()
            and transport is not None
            and not transport.is_closing()
            and not self.ws.closed
            and transport.get_write_buffer_size() <= DIRECT_WRITE_LIMIT
        ):
            # Nothing ahead of it: the same bytes as every other client, written now.
            transport.write(wire.bytes())
            return 1
        try:
            self.queue.put_nowait(wire.payload)
        except asyncio.QueueFull:
            return -1
        return 0

    async def put(self, wire: WireFrame) -> None:
        await self.queue.put(wire.payload)

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.cancel()

    async def close(self, code: int, message: str) -> None:
        await close_client(self, code, message)

    async def write_forever(self) -> None:
        """The client's one writer, for frames that had to wait: in order, at its pace. It
        ends quietly when the connection is gone; the handler sees the close and cleans up."""
        while True:
            frame = await self.queue.get()
            self.busy = True
            try:
                await self.ws.send_frame(frame, WSMsgType.TEXT)
            except (ConnectionError, RuntimeError):
                return
            finally:
                self.busy = False
            FRAMES_SENT.labels(protocol=self.protocol).inc()


class WireFrame:
    """An event as sent, built on first use and then the same bytes for every client: the
    WebSocket text frame (unmasked, as a server sends it; only valid on connections without
    per-message compression, which the gateway never negotiates) and the Socket.IO packet of
    each namespace."""

    __slots__ = ("_bytes", "_packets", "_shapes", "name", "payload")

    def __init__(self, payload: bytes, name: str) -> None:
        self.payload = payload
        self.name = name  # the Socket.IO event name: the wire name, or a control frame's type
        self._bytes: bytes | None = None
        self._packets: dict[str, Packet] | None = None
        self._shapes: dict[PayloadFormat, WireFrame | None] | None = None

    def shaped(self, payload_format: PayloadFormat, token: str, base_url: str) -> WireFrame | None:
        """This event in another platform's shape, made once for every client that wants it;
        None when that platform has no type for it."""
        if payload_format == "evolution":
            return self
        if self._shapes is None:
            self._shapes = {}
        if payload_format not in self._shapes:
            document = shaped(
                orjson.loads(self.payload), payload_format, token=token, base_url=base_url
            )
            self._shapes[payload_format] = (
                None
                if document is None
                else WireFrame(orjson.dumps(document), document.get("event") or document["type"])
            )
        return self._shapes[payload_format]

    def bytes(self) -> bytes:
        if self._bytes is None:
            size = len(self.payload)
            if size < 126:
                header = struct.pack("!BB", 0x81, size)
            elif size < 65536:
                header = struct.pack("!BBH", 0x81, 126, size)
            else:
                header = struct.pack("!BBQ", 0x81, 127, size)
            self._bytes = header + self.payload
        return self._bytes

    def packet(self, namespace: str) -> Packet:
        """The Engine.IO message carrying this frame as a Socket.IO event of ``namespace``:
        ``2/<namespace>,["<name>",<payload>]``, the payload spliced in, not encoded again."""
        if self._packets is None:
            self._packets = {}
        found = self._packets.get(namespace)
        if found is None:
            prefix = "2" if namespace == "/" else f"2{namespace},"
            text = f"{prefix}[{orjson.dumps(self.name).decode()},{self.payload.decode()}]"
            found = self._packets[namespace] = Packet(MESSAGE, data=text)
        return found


class Hub:
    def __init__(
        self, permits: Permits, token_of: Callable[[str], str] = lambda _: "", base_url: str = ""
    ) -> None:
        self.permits = permits
        self.token_of = token_of  # an instance's token, for RyzeAPI's instanceData
        self.base_url = base_url
        self.by_instance: dict[str, set[Audience]] = {}
        self.everywhere: set[Audience] = set()
        self.last_offset: int | None = None
        # Set once this process knows where it stands in the stream (its first message read).
        self.positioned = asyncio.Event()
        self.recent: OrderedDict[str, int] = OrderedDict()
        # The creation time (Unix ms) of the latest event read, when its id carries one.
        self.last_event_ms: int | None = None
        self._moved: asyncio.Future[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def add(self, client: Audience) -> None:
        if client.instance is None:
            self.everywhere.add(client)
        else:
            self.by_instance.setdefault(client.instance, set()).add(client)
        CLIENTS.labels(protocol=client.protocol).inc()

    def discard(self, client: Audience) -> None:
        group = (
            self.everywhere if client.instance is None else self.by_instance.get(client.instance)
        )
        if group is not None and client in group:
            group.discard(client)
            CLIENTS.labels(protocol=client.protocol).dec()
            if client.instance is not None and not group:
                del self.by_instance[client.instance]

    def frame_for(self, client: Audience, wire: WireFrame, instance: str) -> WireFrame | None:
        """The frame ``client`` gets for an event: in its shape, if it asked for one and the
        event has a type there it wants; None when it gets nothing."""
        if client.format == "evolution":
            return wire
        mine = wire.shaped(client.format, self.token_of(instance), self.base_url)
        if mine is None or (client.types is not None and mine.name not in client.types):
            return None
        return mine

    def position(self, offset: int) -> None:
        """Record that everything up to ``offset`` has been read (markers included)."""
        self.last_offset = offset
        self.positioned.set()
        moved, self._moved = self._moved, None
        if moved is not None and not moved.done():
            moved.set_result(None)

    def moved(self) -> asyncio.Future[None]:
        """Done when this process next reads from the stream."""
        if self._moved is None:
            self._moved = asyncio.get_running_loop().create_future()
        return self._moved

    def publish(self, offset: int, event_id: str, instance: str, event: str, frame: bytes) -> None:
        """Offer one event to every client that may and wants to see it."""
        self.recent[event_id] = offset
        if len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)
        self.last_event_ms = event_time_ms(event_id) or self.last_event_ms
        self.position(offset)
        to_instance, to_all = self.permits(instance, event)
        wire = WireFrame(frame, event)
        slow: list[Audience] = []
        written: dict[str, int] = {}
        groups = (
            self.by_instance.get(instance, ()) if to_instance else (),
            self.everywhere if to_all else (),
        )
        for group in groups:
            for client in group:
                if client.sees(instance, event, to_instance, to_all):
                    mine = (
                        wire
                        if client.format == "evolution"
                        else self.frame_for(client, wire, instance)
                    )
                    if mine is None:
                        continue
                    result = client.offer(offset, mine)
                    if result < 0:
                        slow.append(client)
                    elif result:
                        written[client.protocol] = written.get(client.protocol, 0) + 1
        for protocol, count in written.items():
            FRAMES_SENT.labels(protocol=protocol).inc(count)
        for client in slow:
            # Held frames overflow only while the client is still being resumed.
            reason = "slow" if client.held is None else "resume_backlog"
            self.drop(client, CLOSE_TOO_SLOW, "too slow: send buffer full", reason)

    def drop(self, client: Audience, code: int, message: str, reason: str) -> None:
        """Disconnect ``client`` without waiting for it."""
        if client.closed:
            return
        client.closed = True
        self.discard(client)
        DROPPED.labels(reason=reason, protocol=client.protocol).inc()
        log.warning(
            "websocket.dropped",
            reason=reason,
            protocol=client.protocol,
            instance=client.instance or "*",
            peer=client.peer,
            code=code,
        )
        client.stop()
        task = asyncio.create_task(client.close(code, message))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(self, code: int, message: str) -> None:
        clients = [*self.everywhere, *(c for g in self.by_instance.values() for c in g)]
        for client in clients:
            client.closed = True
            self.discard(client)
            client.stop()
        await asyncio.gather(*(c.close(code, message) for c in clients))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def close_client(client: Client, code: int, message: str) -> None:
    """A close frame if the peer takes it in time. Then, if anything is still unsent (a peer
    that stopped reading never takes it), the connection is cut rather than left to flush."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await client.ws.close(code=code, message=message.encode())
    except asyncio.CancelledError:
        # aiohttp shares one wait for the socket among writers, and the writer just cancelled
        # may have been in it; only a cancellation of this task itself goes on.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except (TimeoutError, ConnectionError, RuntimeError):
        pass
    transport = client.transport
    if transport is not None and transport.get_write_buffer_size() > 0:
        with contextlib.suppress(Exception):
            transport.abort()
