"""The WebSocket gateway: ``GET /ws/{instance}`` and ``GET /ws``, and Socket.IO on
``/socket.io/`` (``socket_io``) from the same hub.

Events reach a stream, ``<exchange>.websocket``, bound to the events the settings and each
instance's ``websocket`` block select. Every gateway process reads the whole stream (so any
number of them can stand behind a load balancer) and offers each event, serialised once, to its
clients. A client that reconnects with ``?last_event_id=`` is served what it missed from the
stream first.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Final

from aiohttp import web

from adapters.websocket import access, contract, session
from adapters.websocket.events import Wanted
from adapters.websocket.frames import CLOSE_GOING_AWAY
from adapters.websocket.hub import Client, Hub
from adapters.websocket.metrics import REFUSED
from adapters.websocket.socket_io import SocketIOEndpoint
from adapters.websocket.stream import LiveReader
from router.amqp.broker import Broker
from router.amqp.topology import AdapterQueues, StreamBinding
from router.config.selection import Selection, read_configs
from router.config.settings import Settings
from router.config.store.base import ConfigStore
from router.http.openapi import documented
from router.http.requests import Refused, query_value
from router.logging import get_logger
from schemas import InvalidInstanceError, is_event_id, validate_instance

log = get_logger("adapters.websocket")

# Resumes reading the stream at once; more wait their turn.
MAX_CONCURRENT_REPLAYS: Final = 32
# A resume asked for right after start waits this long for the gateway to find its place.
POSITION_WAIT_SECONDS: Final = 5.0
# Clients only answer pings; anything larger than this from them closes the connection.
MAX_INCOMING_BYTES: Final = 4096


class WebsocketGateway:
    name = "websocket"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.websocket
        self.global_key = settings.authentication.api_key.get_secret_value()
        self.allowed = access.parse_allowed_hosts(self.settings.allowed_hosts)
        self.selection = Selection(self.settings.selected_events(), lambda c: c.websocket)
        self.tokens: dict[str, str] = {}  # instance -> its own token, for RyzeAPI's shape
        self.hub = Hub(
            self.permits, lambda instance: self.tokens.get(instance, ""), settings.server.url
        )
        self.socket_io = SocketIOEndpoint(self)
        self._broker: Broker | None = None
        self._store: ConfigStore | None = None
        self._stream = ""
        self._replays: asyncio.Semaphore | None = None

    # -- what the router asks of a gateway ------------------------------------------------

    def routing_keys(self) -> frozenset[str]:
        return self.selection.routing_keys()

    def stream(self, exchange: str) -> StreamBinding:
        return StreamBinding(
            name=AdapterQueues.for_role(exchange, self.name).work,
            routing_keys=self.routing_keys(),
            max_age=self.settings.retention_max_age,
            max_bytes=self.settings.retention_max_bytes,
        )

    def install(
        self, app: web.Application, broker: Broker, store: ConfigStore, exchange: str
    ) -> None:
        self._broker, self._store = broker, store
        self._stream = self.stream(exchange).name
        LiveReader(broker, self._stream, self.hub)
        documented(app, "GET", "/ws", self.serve, contract.ALL_INSTANCES)
        documented(app, "GET", "/ws/{instance}", self.serve, contract.ONE_INSTANCE)
        self.socket_io.install(app)
        app.on_shutdown.append(self._shutdown)

    async def start(self) -> None:
        self._replays = asyncio.Semaphore(MAX_CONCURRENT_REPLAYS)
        if not self.routing_keys():  # every instance's configuration is loaded by now
            log.warning(
                "websocket.nothing_selected",
                detail="WEBSOCKET_ENABLED is true but no event is streamed: set "
                "WEBSOCKET_GLOBAL_EVENTS=true (WEBSOCKET_EVENTS_* choose which), or switch an "
                "instance's websocket on with POST /websocket/set/{instance}; clients that "
                "connect before then receive nothing",
            )
        if self.allowed is None:
            log.warning("websocket.open", detail="WEBSOCKET_ALLOWED_HOSTS=*: no token is checked")
        elif not self.global_key:
            log.warning(
                "websocket.open",
                detail="AUTHENTICATION_API_KEY is empty: only instances with a token of their "
                "own need one; /ws and every other stream are open",
            )

    async def close(self) -> None:
        await self.hub.close_all(CLOSE_GOING_AWAY, "gateway shutting down")
        await self.socket_io.close()

    async def reload(self, store: ConfigStore, instance: str | None) -> None:
        configs = await read_configs(store, instance)  # once, for the blocks and the tokens
        self.selection.apply(configs, instance)
        if instance is None:
            self.tokens.clear()
        else:
            self.tokens.pop(instance, None)
        self.tokens.update({c.instance: c.token for c in configs if c is not None and c.token})

    # -- who sees what -----------------------------------------------------------------------

    def permits(self, instance: str, event: str) -> tuple[bool, bool]:
        """(the instance's own clients may see it, the all-instances clients may)."""
        to_all = event in self.selection.global_events
        return to_all or self.selection.block_wanting(instance, event) is not None, to_all

    async def _token_of(self, instance: str) -> str:
        try:
            config = await self._store.get(instance) if self._store else None
        except Exception:
            # A refusal like any other (counted, retried by the client), not a 500.
            log.warning("websocket.store_failed", instance=instance, exc_info=True)
            raise Refused(
                503, "store_unavailable", "the instance's token cannot be read; retry shortly"
            ) from None
        return config.token if config is not None else ""

    # -- the endpoint --------------------------------------------------------------------------

    async def serve(self, request: web.Request) -> web.StreamResponse:
        try:
            ws, instance, wanted, last_event_id = await self._admit(request)
        except Refused as refused:
            REFUSED.labels(reason=refused.reason).inc()
            return refused.response()
        except access.Denied as denied:
            REFUSED.labels(reason=denied.reason).inc()
            denied.count("websocket")
            return Refused(401, denied.reason, denied.detail).response()
        await ws.prepare(request)
        client = Client(ws, request, instance, wanted.events, self.settings.max_buffer)
        client.format, client.types = wanted.payload_format, wanted.types
        broker, stream, replays = self.replay_source()
        await session.serve(
            ws,
            client,
            self.hub,
            last_event_id=last_event_id,
            broker=broker,
            stream=stream,
            replays=replays,
        )
        return ws

    def replay_source(self) -> tuple[Broker, str, asyncio.Semaphore]:
        """Where a resume reads the past: the broker, the stream, and the replays' limit."""
        assert self._broker is not None
        assert self._replays is not None
        return self._broker, self._stream, self._replays

    async def _admit(
        self, request: web.Request
    ) -> tuple[web.WebSocketResponse, str | None, Wanted, str | None]:
        """Everything checked before the upgrade, so a refusal is a plain HTTP answer."""
        instance = self.stream_instance(request.match_info.get("instance"))
        query = functools.partial(query_value, request)
        wanted = Wanted.parse(query("events"), query("format"))
        last_event_id = self.resume_from(query("last_event_id"))
        await self.check_access(request.remote, access.presented_token(request), instance)
        ws = web.WebSocketResponse(
            heartbeat=self.settings.heartbeat_seconds,
            compress=False,  # one serialisation for every client; per-client deflate undoes it
            max_msg_size=MAX_INCOMING_BYTES,
        )
        if not ws.can_prepare(request).ok:
            raise Refused(426, "upgrade_required", "this endpoint speaks WebSocket only")
        await self.check_ready(last_event_id)
        return ws, instance, wanted, last_event_id

    # -- what both endpoints check ---------------------------------------------------------------

    def stream_instance(self, raw: str | None) -> str | None:
        """The instance a client asks to follow (None: every instance), or ``Refused``."""
        if raw is None:
            if not self.settings.global_events:
                raise Refused(
                    404,
                    "global_stream_off",
                    "the stream of every instance needs WEBSOCKET_GLOBAL_EVENTS=true",
                )
            return None
        try:
            return validate_instance(raw)
        except InvalidInstanceError as exc:
            raise Refused(422, "invalid_instance", str(exc)) from None

    @staticmethod
    def resume_from(value: str | None) -> str | None:
        if value and not is_event_id(value):
            raise Refused(
                422, "invalid_last_event_id", "last_event_id must be the id of an event received"
            )
        return value or None

    async def check_access(self, peer: str | None, token: str | None, instance: str | None) -> None:
        await access.check(peer, token, instance, self.global_key, self.allowed, self._token_of)

    async def check_ready(self, last_event_id: str | None) -> None:
        """``Refused`` while RabbitMQ is away, or while a resume could not find its place."""
        broker = self._broker
        if broker is None or not broker.ready:
            raise Refused(503, "broker_unavailable", "not connected to RabbitMQ; retry shortly")
        if last_event_id is not None and not self.hub.positioned.is_set():
            try:
                async with asyncio.timeout(POSITION_WAIT_SECONDS):
                    await self.hub.positioned.wait()
            except TimeoutError:
                raise Refused(
                    503, "stream_unavailable", "the event stream cannot be read yet; retry shortly"
                ) from None

    async def _shutdown(self, _: web.Application) -> None:
        await self.close()
