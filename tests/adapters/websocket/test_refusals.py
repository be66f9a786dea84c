"""Every refusal of ``/ws`` and Socket.IO counted by its reason, the key read from the query
names ``router.http.keys`` lists and from no other, and a token's bytes never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import socketio
from prometheus_client import REGISTRY

from router.config.settings import Settings
from router.config.store import MemoryStore
from router.http.keys import query_key_names
from schemas.instance_config import InstanceConfig
from tests.support.app import API_KEY
from tests.support.gateway import Client, gateway

TOKEN = f"token={API_KEY}"


class Counted:
    """What happened to the gateway's refusal counter and the shared auth counter."""

    def __init__(self, reason: str, auth: tuple[str, str] | None = None) -> None:
        self.reason, self.auth = reason, auth
        self.before = self.now()

    def now(self) -> tuple[float, float]:
        refused = REGISTRY.get_sample_value(
            "router_websocket_refused_total", {"reason": self.reason}
        )
        keyed = 0.0
        if self.auth is not None:
            surface, reason = self.auth
            labels = {"surface": surface, "reason": reason}
            keyed = REGISTRY.get_sample_value("router_auth_refused_total", labels) or 0.0
        return refused or 0.0, keyed

    def added(self) -> tuple[float, float]:
        after = self.now()
        return after[0] - self.before[0], after[1] - self.before[1]


@pytest.mark.parametrize(
    ("path", "status", "reason", "auth"),
    [
        ("/ws/alpha", 401, "missing_token", "missing_key"),
        ("/ws/alpha?token=wrong", 401, "wrong_token", "wrong_key"),
        ("/ws?token=alpha-token", 401, "wrong_token", "wrong_key"),
        ("/ws/alpha?key=alpha-token", 401, "missing_token", "missing_key"),
        ("/ws/bad%07name", 422, "invalid_instance", None),
        (f"/ws/alpha?{TOKEN}&events=MESAGES_UPSERT", 422, "unknown_event", None),
        (f"/ws/alpha?{TOKEN}&format=xml", 422, "invalid_format", None),
        (f"/ws/alpha?{TOKEN}&last_event_id=nope", 422, "invalid_last_event_id", None),
        (f"/ws/alpha?{TOKEN}&format=&format=ryze", 400, "bad_query", None),
        (f"/ws/alpha?{TOKEN}", 426, "upgrade_required", None),
    ],
)
async def test_every_refusal_before_the_upgrade_is_counted_by_its_reason(
    ws_settings: Callable[..., Settings],
    tokens: MemoryStore,
    path: str,
    status: int,
    reason: str,
    auth: str | None,
) -> None:
    async with gateway(ws_settings(), tokens) as client:
        counted = Counted(reason, None if auth is None else ("websocket", auth))
        answer = await client.get(path)
        assert (answer.status, (await answer.json())["error"]) == (status, reason)
        assert counted.added() == (1, 0 if auth is None else 1)


async def test_the_stream_of_every_instance_when_it_is_off(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(global_events=False)) as client:
        counted = Counted("global_stream_off")
        answer = await client.get(f"/ws?{TOKEN}")
        assert (answer.status, (await answer.json())["error"]) == (404, "global_stream_off")
        assert counted.added() == (1, 0)


class FailingStore(MemoryStore):
    async def get(self, instance: str) -> InstanceConfig:
        raise OSError("disk gone")


async def test_a_store_that_cannot_say_an_instances_token_is_a_counted_503(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(), FailingStore()) as client:
        counted = Counted("store_unavailable")
        answer = await client.get(f"/ws/alpha?{TOKEN}")
        assert (answer.status, (await answer.json())["error"]) == (503, "store_unavailable")
        assert answer.headers["Retry-After"]
        assert counted.added() == (1, 0)


async def status_of(client: Client, path: str) -> int:
    try:
        ws = await client.ws_connect(path)
    except Exception as exc:
        return int(getattr(exc, "status", 0))
    await ws.close()
    return 101


async def test_the_query_names_of_the_table_open_a_stream(
    ws_settings: Callable[..., Settings], tokens: MemoryStore
) -> None:
    async with gateway(ws_settings(), tokens) as client:
        for name in query_key_names("websocket"):
            assert await status_of(client, f"/ws/alpha?{name}=alpha-token") == 101, name
        for name in ("key", "api_key", "access_token", "Token"):
            assert await status_of(client, f"/ws/alpha?{name}=alpha-token") == 401, name


async def raw_status(client: Client, head: bytes) -> int:
    url = client.make_url("/")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(line.split()[1])


@pytest.mark.parametrize("value", [b"\xff\xfe", b"alpha-tok\xc3", "tokén".encode("latin-1")])
async def test_a_token_whose_bytes_are_not_utf8_is_a_wrong_token(
    ws_settings: Callable[..., Settings], tokens: MemoryStore, value: bytes
) -> None:
    async with gateway(ws_settings(), tokens) as client:
        counted = Counted("wrong_token", ("websocket", "wrong_key"))
        assert await raw_status(client, b"GET /ws/alpha HTTP/1.1\r\napikey: " + value) == 401
        bearer = b"GET /ws HTTP/1.1\r\nAuthorization: Bearer " + value
        assert await raw_status(client, bearer) == 401
        assert counted.added() == (2, 2)


async def socket_io_refusal(client: Client, namespace: str, url: str = "/", **kwargs: Any) -> str:
    """The reason code of the ``connect_error`` the router answers."""
    sio = socketio.AsyncClient(reconnection=False)
    said: list[Any] = []
    sio.on("connect_error", said.append, namespace=namespace)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            str(client.make_url(url)),
            namespaces=[namespace],
            transports=["websocket"],
            wait_timeout=5,
            **kwargs,
        )
    await sio.disconnect()
    assert said, "no connect_error"
    assert isinstance(said[0], dict), said
    return str(said[0]["data"]["reason"])


@pytest.mark.parametrize(
    ("namespace", "url", "auth", "reason", "keyed"),
    [
        ("/alpha", "/", None, "missing_token", "missing_key"),
        ("/alpha", "/", {"apikey": "wrong"}, "wrong_token", "wrong_key"),
        ("/beta", "/?apikey=alpha-token", None, "wrong_token", "wrong_key"),
        ("/alpha", "/?key=alpha-token", None, "missing_token", "missing_key"),
        ("/bad%07name", "/", {"apikey": API_KEY}, "invalid_instance", None),
        ("/alpha", "/", {"apikey": API_KEY, "events": ["NOPE"]}, "unknown_event", None),
        ("/alpha", "/", {"apikey": API_KEY, "format": "xml"}, "invalid_format", None),
        ("/alpha", "/", {"apikey": API_KEY, "last_event_id": "x"}, "invalid_last_event_id", None),
    ],
)
async def test_every_socket_io_refusal_is_counted_by_its_reason(
    ws_settings: Callable[..., Settings],
    tokens: MemoryStore,
    namespace: str,
    url: str,
    auth: dict[str, Any] | None,
    reason: str,
    keyed: str | None,
) -> None:
    async with gateway(ws_settings(), tokens) as client:
        counted = Counted(reason, None if keyed is None else ("socketio", keyed))
        assert await socket_io_refusal(client, namespace, url, auth=auth) == reason
        assert counted.added() == (1, 0 if keyed is None else 1)


async def test_socket_ios_global_namespace_when_it_is_off(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(global_events=False)) as client:
        counted = Counted("global_stream_off")
        assert await socket_io_refusal(client, "/", auth={"apikey": API_KEY}) == "global_stream_off"
        assert counted.added() == (1, 0)


async def test_socket_io_reads_the_query_names_of_the_table(
    ws_settings: Callable[..., Settings], tokens: MemoryStore
) -> None:
    async with gateway(ws_settings(), tokens) as client:
        for name in query_key_names("socketio"):
            sio = socketio.AsyncClient(reconnection=False)
            url = str(client.make_url("/")) + f"?{name}=alpha-token"
            await sio.connect(url, namespaces=["/alpha"], transports=["websocket"], wait_timeout=5)
            assert sio.connected, name
            await sio.disconnect()
