"""Who is connected and what each one wants.

The gateway hands the hub each event once, already serialised; the hub offers those bytes to
every client that may and wants to see it. Offering never waits: each client has a bounded
queue drained by its own writer task, and a client whose queue is full is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Final

from aiohttp import WSMsgType, web

from adapters.websocket.frames import CLOSE_TOO_SLOW
from adapters.websocket.metrics import CLIENTS, DROPPED, FRAMES_SENT
from router.logging import get_logger

log = get_logger("adapters.websocket")

# While a client resumes, live frames wait beside its queue; this many times its buffer at most.
HOLD_FACTOR: Final = 16
# Event id -> stream offset of the latest events seen, so a resume starts at the exact offset.
RECENT_IDS: Final = 100_000
CLOSE_TIMEOUT_SECONDS: Final = 2.0

# (instance, event) -> (may go to that instance's clients, may go to the all-instances clients)
Permits = Callable[[str, str], tuple[bool, bool]]


class Client:
    __slots__ = (
        "closed",
        "events",
        "held",
        "hold_limit",
        "instance",
        "peer",
        "queue",
        "transport",
        "writer",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        instance: str | None,
        events: frozenset[str] | None,
        max_buffer: int,
    ) -> None:
        self.ws = ws
        self.transport = request.transport
        self.peer = request.remote or "?"
        self.instance = instance  # None: every instance (``/ws``)
        self.events = events  # None: every event it may see
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(max_buffer)
        # Live frames (offset, bytes) kept back while the client resumes, else None.
        self.held: deque[tuple[int, bytes]] | None = None
        self.hold_limit = max_buffer * HOLD_FACTOR
        self.writer: asyncio.Task[None] | None = None
        self.closed = False

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events

    def offer(self, offset: int, frame: bytes) -> bool:
        """Queue a live frame without waiting; False when the client is too far behind."""
        if self.held is not None:
            if len(self.held) >= self.hold_limit:
                return False
            self.held.append((offset, frame))
            return True
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    async def write_forever(self) -> None:
        """The client's one writer: frames go out in order, at the client's pace."""
        while True:
            frame = await self.queue.get()
            await self.ws.send_frame(frame, WSMsgType.TEXT)
            FRAMES_SENT.inc()


class Hub:
    def __init__(self, permits: Permits) -> None:
        self.permits = permits
        self.by_instance: dict[str, set[Client]] = {}
        self.everywhere: set[Client] = set()
        self.last_offset: int | None = None
        # Set once this process knows where it stands in the stream (its first message read).
        self.positioned = asyncio.Event()
        self.recent: OrderedDict[str, int] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def count(self) -> int:
        return len(self.everywhere) + sum(len(c) for c in self.by_instance.values())

    def add(self, client: Client) -> None:
        if client.instance is None:
            self.everywhere.add(client)
        else:
            self.by_instance.setdefault(client.instance, set()).add(client)
        CLIENTS.inc()

    def discard(self, client: Client) -> None:
        group = (
            self.everywhere if client.instance is None else self.by_instance.get(client.instance)
        )
        if group is not None and client in group:
            group.discard(client)
            CLIENTS.dec()
            if client.instance is not None and not group:
                del self.by_instance[client.instance]

    def position(self, offset: int) -> None:
        """Record that everything up to ``offset`` has been read (markers included)."""
        self.last_offset = offset
        self.positioned.set()

    def publish(self, offset: int, event_id: str, instance: str, event: str, frame: bytes) -> int:
        """Offer one event to every client that may and wants to see it; the number offered."""
        self.position(offset)
        self.recent[event_id] = offset
        if len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)
        to_instance, to_all = self.permits(instance, event)
        slow: list[Client] = []
        offered = 0
        if to_instance:
            for client in self.by_instance.get(instance, ()):
                if client.wants(event):
                    offered += 1
                    if not client.offer(offset, frame):
                        slow.append(client)
        if to_all:
            for client in self.everywhere:
                if client.wants(event):
                    offered += 1
                    if not client.offer(offset, frame):
                        slow.append(client)
        for client in slow:
            self.drop(client, CLOSE_TOO_SLOW, "too slow: send buffer full", "slow")
        return offered

    def drop(self, client: Client, code: int, message: str, reason: str) -> None:
        """Disconnect ``client`` without waiting for it."""
        if client.closed:
            return
        client.closed = True
        self.discard(client)
        DROPPED.labels(reason=reason).inc()
        log.warning(
            "websocket.dropped",
            reason=reason,
            instance=client.instance or "*",
            peer=client.peer,
            code=code,
        )
        if client.writer is not None:
            client.writer.cancel()
        task = asyncio.create_task(close_client(client, code, message))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(self, code: int, message: str) -> None:
        clients = [*self.everywhere, *(c for g in self.by_instance.values() for c in g)]
        for client in clients:
            client.closed = True
            self.discard(client)
            if client.writer is not None:
                client.writer.cancel()
        await asyncio.gather(*(close_client(c, code, message) for c in clients))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def close_client(client: Client, code: int, message: str) -> None:
    """A close frame if the peer takes it in time; otherwise the connection is cut."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await client.ws.close(code=code, message=message.encode())
    except (TimeoutError, ConnectionError, RuntimeError):
        if client.transport is not None:
            with contextlib.suppress(Exception):
                client.transport.abort()
