"""A stand-in for the Pusher Channels HTTP API on a loopback port.

It checks requests the way Pusher does (signed query, body digest, timestamp window, payload
limits) so adapter tests fail on anything the real service would refuse, and it records every
accepted event for the test to inspect.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# Limits of Pusher's shared clusters; dedicated clusters may allow more, tests want the strictest.
MAX_DATA_BYTES = 10240
MAX_BATCH_EVENTS = 10
MAX_CHANNELS_PER_EVENT = 100
MAX_CHANNEL_NAME = 164
MAX_EVENT_NAME = 200
TIMESTAMP_WINDOW_S = 600
AUTH_VERSION = "1.0"

_CHANNEL_RE = re.compile(r"[A-Za-z0-9_\-=@,.;]+")
_SOCKET_ID_RE = re.compile(r"\d+\.\d+")

# Both API paths carry the app id; anything else is counted under this kind.
_OTHER = "other"


@dataclass(frozen=True, slots=True)
class Triggered:
    """One event as delivered to one channel: a trigger to three channels records three."""

    app_id: str
    channel: str
    name: str
    data: str
    # Defaulted so tests can compare against the four-field form when no sender is excluded.
    socket_id: str | None = None


class Refusal(Exception):
    """Ends a request with Pusher's status and a plain-text reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def string_to_sign(method: str, path: str, params: Mapping[str, str]) -> str:
    """Pusher's canonical form: the signature itself is left out, keys are lower-case and
    sorted, and values are used as given (not re-encoded)."""
    pairs = sorted((k.lower(), v) for k, v in params.items() if k.lower() != "auth_signature")
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method}\n{path}\n{query}"


def sign(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    message = string_to_sign(method, path, params)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class PusherStandIn:
    def __init__(
        self,
        apps: Mapping[str, tuple[str, str]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.apps: dict[str, tuple[str, str]] = dict(apps or {})
        self.triggered: list[Triggered] = []
        self.calls: dict[str, int] = {}
        self.refused: list[tuple[int, str]] = []
        self._arrived: asyncio.Queue[Triggered] = asyncio.Queue()
        # Each entry answers one request that passed authentication, in order.
        self._faults: list[tuple[int, str]] = []
        self._clock = clock
        self._runner: web.AppRunner | None = None

    # -- configuration -------------------------------------------------------------------

    def add_app(self, app_id: str, key: str, secret: str) -> None:
        self.apps[app_id] = (key, secret)

    def fail_next(self, status: int, times: int = 1, body: str = "injected failure") -> None:
        """Answer the next ``times`` authenticated requests with ``status`` and ``body``.

        Coming after the auth checks means a badly signed request still gets its 401 and does
        not use up a planned fault, which keeps retry tests deterministic."""
        self._faults.extend([(status, body)] * times)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/apps/{app_id}/events", self._events)
        app.router.add_post("/apps/{app_id}/batch_events", self._batch_events)
        # Anything else is still counted, so a test notices an adapter calling the wrong path.
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.1, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- inspection ----------------------------------------------------------------------

    async def next(self, timeout: float = 10.0) -> Triggered:
        async with asyncio.timeout(timeout):
            return await self._arrived.get()

    def on_channel(self, channel: str) -> list[Triggered]:
        return [t for t in self.triggered if t.channel == channel]

    # -- handlers ------------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.Response:
        return await self._serve(request, "events", self._parse_events)

    async def _batch_events(self, request: web.Request) -> web.Response:
        return await self._serve(request, "batch_events", self._parse_batch)

    async def _other(self, request: web.Request) -> web.Response:
        self._count(_OTHER)
        return self._refuse(404, f"no such endpoint: {request.method} {request.path}")

    async def _serve(
        self,
        request: web.Request,
        kind: str,
        parse: Callable[[str, dict[str, Any]], list[Triggered]],
    ) -> web.Response:
        self._count(kind)
        body = await request.read()
        app_id = request.match_info["app_id"]
        try:
            self._authenticate(request, app_id, body)
            if self._faults:
                status, text = self._faults.pop(0)
                raise Refusal(status, text)
            events = parse(app_id, self._json_object(body))
        except Refusal as refusal:
            return self._refuse(refusal.status, refusal.reason)
        # Recorded only once the whole request is valid: Pusher publishes all or nothing.
        for event in events:
            self.triggered.append(event)
            self._arrived.put_nowait(event)
        return web.json_response({})

    def _count(self, kind: str) -> None:
        self.calls[kind] = self.calls.get(kind, 0) + 1

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.refused.append((status, reason))
        return web.Response(status=status, text=reason)

    # -- checks --------------------------------------------------------------------------

    def _authenticate(self, request: web.Request, app_id: str, body: bytes) -> None:
        if app_id not in self.apps:
            raise Refusal(401, f"Unknown app_id {app_id}")
        key, secret = self.apps[app_id]

        params: dict[str, str] = {}
        for name, value in request.query.items():
            lowered = name.lower()
            if lowered in params:
                # Two values for one key leave the signed string ambiguous.
                raise Refusal(401, f"Duplicate query parameter {lowered}")
            params[lowered] = value

        for required in ("auth_key", "auth_timestamp", "auth_version", "auth_signature"):
            if required not in params:
                raise Refusal(401, f"Missing {required}")
        if params["auth_key"] != key:
            raise Refusal(401, f"Unknown auth_key {params['auth_key']} for app {app_id}")
        if params["auth_version"] != AUTH_VERSION:
            raise Refusal(401, f"Unsupported auth_version {params['auth_version']}")

        try:
            stamp = int(params["auth_timestamp"])
        except ValueError:
            raise Refusal(401, "auth_timestamp is not an integer") from None
        now = self._clock()
        if abs(now - stamp) > TIMESTAMP_WINDOW_S:
            raise Refusal(
                401,
                f"Timestamp expired: given timestamp ({stamp}) not within "
                f"{TIMESTAMP_WINDOW_S}s of server time ({int(now)})",
            )

        expected = sign(secret, request.method, request.path, params)
        if not hmac.compare_digest(expected, params["auth_signature"]):
            raise Refusal(
                401,
                "Invalid signature: expected HMAC SHA256 hex digest of "
                + repr(string_to_sign(request.method, request.path, params)),
            )

        # The digest is inside the signed string, so checking it ties the body to the signature.
        digest = hashlib.md5(body).hexdigest()
        if params.get("body_md5") != digest:
            raise Refusal(401, f"body_md5 mismatch: body hashes to {digest}")

    @staticmethod
    def _json_object(body: bytes) -> dict[str, Any]:
        try:
            parsed = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise Refusal(400, "Request body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise Refusal(400, "Request body must be a JSON object")
        return parsed

    def _parse_events(self, app_id: str, body: dict[str, Any]) -> list[Triggered]:
        has_list, has_one = "channels" in body, "channel" in body
        if has_list == has_one:
            raise Refusal(400, "Give exactly one of 'channels' or 'channel'")
        if has_list:
            channels = body["channels"]
            if not isinstance(channels, list) or not channels:
                raise Refusal(400, "'channels' must be a non-empty list")
            if len(channels) > MAX_CHANNELS_PER_EVENT:
                raise Refusal(400, f"More than {MAX_CHANNELS_PER_EVENT} channels")
        else:
            channels = [body["channel"]]
        name, data, socket_id = self._event_fields(body)
        return [Triggered(app_id, _channel(c), name, data, socket_id) for c in channels]

    def _parse_batch(self, app_id: str, body: dict[str, Any]) -> list[Triggered]:
        batch = body.get("batch")
        if not isinstance(batch, list) or not batch:
            raise Refusal(400, "'batch' must be a non-empty list")
        if len(batch) > MAX_BATCH_EVENTS:
            raise Refusal(400, f"Batch too large: {len(batch)} events, at most {MAX_BATCH_EVENTS}")
        events: list[Triggered] = []
        for index, item in enumerate(batch):
            if not isinstance(item, dict):
                raise Refusal(400, f"batch[{index}] is not an object")
            if "channel" not in item:
                raise Refusal(400, f"batch[{index}] has no 'channel'")
            name, data, socket_id = self._event_fields(item)
            events.append(Triggered(app_id, _channel(item["channel"]), name, data, socket_id))
        return events

    @staticmethod
    def _event_fields(event: dict[str, Any]) -> tuple[str, str, str | None]:
        name = event.get("name")
        if not isinstance(name, str) or not name:
            raise Refusal(400, "'name' must be a non-empty string")
        if len(name) > MAX_EVENT_NAME:
            raise Refusal(
                400, f"Event name too long: {len(name)} characters, at most {MAX_EVENT_NAME}"
            )
        data = event.get("data")
        if not isinstance(data, str):
            # Pusher never serialises data itself; a client that forgot to is a client bug.
            raise Refusal(400, "'data' must be a string")
        size = len(data.encode())
        if size > MAX_DATA_BYTES:
            raise Refusal(413, f"Event data too large: {size} bytes, at most {MAX_DATA_BYTES}")
        socket_id = event.get("socket_id")
        if socket_id is not None and (
            not isinstance(socket_id, str) or not _SOCKET_ID_RE.fullmatch(socket_id)
        ):
            raise Refusal(400, f"Invalid socket_id {socket_id!r}")
        return name, data, socket_id


def _channel(value: object) -> str:
    if not isinstance(value, str) or not _CHANNEL_RE.fullmatch(value):
        raise Refusal(400, f"Invalid channel name {value!r}")
    if len(value) > MAX_CHANNEL_NAME:
        raise Refusal(
            400, f"Channel name too long: {len(value)} characters, at most {MAX_CHANNEL_NAME}"
        )
    return value


@contextlib.asynccontextmanager
async def running_pusher(
    apps: Mapping[str, tuple[str, str]] | None = None,
) -> AsyncIterator[PusherStandIn]:
    standin = PusherStandIn(apps)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()
