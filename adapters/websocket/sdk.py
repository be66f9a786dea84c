"""A Python client for the WebSocket gateway that reconnects and resumes by itself.

    client = EventClient("http://router:8080", "my-instance", token="...")

    @client.on("messages.upsert")
    async def on_message(event): print(event["data"])

    asyncio.run(client.run())

Each reconnection sends the id of the last event received, so the gateway replays what came
meanwhile; ids already seen are skipped, so handlers see each event once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Self
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import aiohttp
import orjson

from adapters.websocket.frames import HISTORY_UNAVAILABLE
from schemas import resolve
from schemas.shapes import PayloadFormat, types_of

Event = dict[str, Any]
Handler = Callable[[Event], Awaitable[None] | None]
log = logging.getLogger("evrouter.sdk")
ALL = "*"
# Refusals that another attempt would only repeat.
FINAL_STATUSES = frozenset({400, 401, 403, 404, 422, 426})
CONNECT_TIMEOUT_SECONDS = 10.0


class GatewayRefused(Exception):
    """The gateway refused the connection (bad token, unknown stream): retrying cannot help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class GatewayUnreachable(ConnectionError):
    """Every attempt of the last ``max_retries`` failed."""


class EventClient:
    def __init__(
        self,
        url: str,
        instance: str | None = None,
        *,
        token: str | None = None,
        events: Iterable[str] | None = None,
        max_retries: int = 10,
        retry_delay_seconds: float = 1.0,
        max_retry_delay_seconds: float = 30.0,
        last_event_id: str | None = None,
        heartbeat_seconds: float = 30.0,
        remember: int = 10_000,
        payload_format: PayloadFormat = "evolution",
    ) -> None:
        """``url`` is the router's base URL (http, https, ws or wss); ``instance`` None opens
        the stream of every instance. ``max_retries`` failed attempts in a row give up.
        ``payload_format`` ``ryze`` or ``vzaps`` receives that platform's shape, and
        ``events`` and ``on()`` then take its types (VZaps' ``All`` for every one)."""
        self.url = url.rstrip("/")
        self.instance = instance
        self.token = token
        self.payload_format = payload_format
        self.events = (
            sorted(
                {resolve(e).key if payload_format == "evolution" else self._name(e) for e in events}
            )
            if events
            else None
        )
        self.max_retries = max_retries
        self.retry_delay_seconds = retry_delay_seconds
        self.max_retry_delay_seconds = max_retry_delay_seconds
        self.last_event_id = last_event_id
        self.heartbeat_seconds = heartbeat_seconds
        self.connections = 0  # successful connections so far
        self._handlers: dict[str, list[Handler]] = {}
        self._gap_handlers: list[Handler] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._closing = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    def on(self, event: str = ALL) -> Callable[[Handler], Handler]:
        """Register a handler for one event (any spelling: ``MESSAGES_UPSERT``,
        ``messages.upsert``, ``messagesUpsert``) or, with ``*``, for every event."""
        key = ALL if event == ALL else self._name(event)

        def register(handler: Handler) -> Handler:
            self._handlers.setdefault(key, []).append(handler)
            return handler

        return register

    def _name(self, event: str) -> str:
        """An event as this client's shape names it: a catalog wire name, or that platform's
        type; ``ValueError`` for a name the shape does not have."""
        if self.payload_format == "evolution":
            return resolve(event).wire
        if event in types_of(self.payload_format) or event == "All":
            return event
        raise ValueError(
            f"{event!r} is not a {self.payload_format} type: one of "
            f"{', '.join(types_of(self.payload_format))}"
        )

    def on_gap(self, handler: Handler) -> Handler:
        """Called with the gateway's notice when events after ``last_event_id`` are no longer
        kept (the client was away longer than the retention)."""
        self._gap_handlers.append(handler)
        return handler

    def stream_url(self) -> str:
        parts = urlsplit(self.url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        path = f"{parts.path}/ws" + (f"/{quote(self.instance, safe='')}" if self.instance else "")
        query: dict[str, str] = {}
        if self.payload_format != "evolution":
            query["format"] = self.payload_format
        if self.events:
            query["events"] = ",".join(self.events)
        if self.last_event_id:
            query["last_event_id"] = self.last_event_id
        return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))

    async def run(self) -> None:
        """Receive and dispatch until ``close()``; reconnects with capped exponential backoff.
        Raises ``GatewayRefused`` at once on a refusal, ``GatewayUnreachable`` after
        ``max_retries`` failures in a row."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        failures = 0
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            while not self._closing.is_set():
                try:
                    async with session.ws_connect(
                        self.stream_url(), heartbeat=self.heartbeat_seconds, max_msg_size=0
                    ) as ws:
                        self._ws = ws
                        self.connections += 1
                        failures = 0
                        await self._receive(ws)
                    if not self._closing.is_set():
                        # 4008: this client fell behind; 1013: resume failed; 1001: shutdown.
                        log.warning("gateway closed the stream (code %s); resuming", ws.close_code)
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in FINAL_STATUSES:
                        reason = await self._refusal_reason(session) or exc.message
                        raise GatewayRefused(exc.status, reason) from None
                    failures += 1
                    log.warning("gateway answered %s; retrying", exc.status)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    failures += 1
                    log.warning("gateway connection failed: %s", exc)
                finally:
                    self._ws = None
                if self._closing.is_set():
                    return
                if failures > self.max_retries:
                    raise GatewayUnreachable(f"gave up after {self.max_retries} retries")
                await self._pause(failures)

    async def _refusal_reason(self, session: aiohttp.ClientSession) -> str | None:
        """The gateway's own words: a refusal comes before the upgrade, so the same request
        without one gets the same answer, with its JSON body."""
        url = self.stream_url().replace("ws://", "http://", 1).replace("wss://", "https://", 1)
        try:
            async with session.get(url) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        message = body.get("message") if isinstance(body, dict) else None
        return str(message) if message else None

    async def close(self) -> None:
        """Stop ``run()`` cleanly: the connection is closed with a normal close frame. A closed
        client stays closed; make a new one to connect again."""
        self._closing.set()
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _pause(self, failures: int) -> None:
        """Capped exponential backoff with jitter; ``close()`` ends it early."""
        base = min(
            self.retry_delay_seconds * 2 ** max(0, failures - 1), self.max_retry_delay_seconds
        )
        delay = base * random.uniform(0.8, 1.2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = orjson.loads(message.data)
            except orjson.JSONDecodeError:
                log.warning("skipped a frame that is not JSON: %.100s", message.data)
                continue
            if not isinstance(frame, dict):
                continue
            if "id" not in frame:  # every shape of an event has its id; a control frame has none
                await self._control(frame)
                continue
            event_id = frame.get("id")
            if not isinstance(event_id, str) or event_id in self._seen:
                continue
            self._seen[event_id] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            self.last_event_id = event_id
            name = frame.get("type" if self.payload_format == "vzaps" else "event")
            await self._dispatch(
                [*self._handlers.get(str(name), ()), *self._handlers.get(ALL, ())], frame
            )

    async def _control(self, frame: Event) -> None:
        if frame.get("type") == HISTORY_UNAVAILABLE:
            log.warning("events after %s are no longer available", frame.get("last_event_id"))
            await self._dispatch(self._gap_handlers, frame)

    async def _dispatch(self, handlers: list[Handler], frame: Event) -> None:
        for handler in handlers:
            try:
                result = handler(frame)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # The handler's failure is the application's; the stream goes on.
                log.exception("handler %r failed for event %s", handler, frame.get("id"))
