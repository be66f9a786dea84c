"""Keys on the HTTP ways in: compared in constant time whatever bytes a client sends, read from
a URL only where ``router.http.keys`` says a client cannot send a header, and every refusal for
a key counted by surface and reason. Against the real app on loopback."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web_urldispatcher import AbstractResource
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from router.config.settings import Settings
from router.config.store import MemoryStore
from router.http.auth import key_matches, same_secret
from router.http.keys import (
    AUTH_REFUSALS,
    KEY_PARAMETERS,
    KEYS_IN_URLS,
    SURFACES,
    as_markdown,
    query_key_names,
    stray_keys,
)
from schemas.instance_config import InstanceConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app

Client = TestClient[Any, Any]
AUTH = {"apikey": API_KEY}
# An instance's own token, with letters a header carries as UTF-8.
SHOP_TOKEN = "loja-ção-tokén"
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates too


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Counts:
    """What a request added to the refusal counters."""

    def __init__(self, surface: str, reason: str, counter: str, error: str) -> None:
        self.auth = ("router_auth_refused_total", {"surface": surface, "reason": reason})
        self.own = (counter, {"reason": error})
        self.before = self.now()

    def now(self) -> tuple[float, float]:
        return counted(self.auth[0], **self.auth[1]), counted(self.own[0], **self.own[1])

    def added(self) -> tuple[float, float]:
        after = self.now()
        return after[0] - self.before[0], after[1] - self.before[1]


# -- comparing, without I/O --


@given(expected=ANY_TEXT, presented=ANY_TEXT)
def test_same_secret_is_equality_of_a_set_secret_for_any_text(
    expected: str, presented: str
) -> None:
    assert same_secret(expected, presented) is (expected == presented and expected != "")
    assert same_secret(expected, expected) is (expected != "")


@given(presented=st.none() | ANY_TEXT)
def test_no_configured_key_opens_everything_and_none_presented_opens_nothing(
    presented: str | None,
) -> None:
    assert key_matches("", presented)
    assert not key_matches("k", None)


@pytest.mark.parametrize(
    ("expected", "presented", "same"),
    [
        ("clé", "clé", True),
        ("clé", "cle", False),
        ("clé", "cl\udcc3\udca9", False),  # the same bytes, not UTF-8-decoded: another key
        ("k", "k\udcff", False),
        ("", "", False),
        ("k" * 64, "k", False),
    ],
)
def test_keys_of_any_letters_and_length_compare_without_raising(
    expected: str, presented: str, same: bool
) -> None:
    assert same_secret(expected, presented) is same


# -- the table of keys in URLs --


def test_the_table_names_fixed_surfaces_and_key_parameters() -> None:
    assert {row.surface for row in KEYS_IN_URLS} <= set(SURFACES)
    for row in KEYS_IN_URLS:
        assert row.names, row
        assert row.why, row
        if row.place == "query":
            assert {name.lower() for name in row.names} <= KEY_PARAMETERS
    assert set(AUTH_REFUSALS) == {"missing_key", "wrong_key", "key_in_query"}
    assert query_key_names("websocket") == ("token", "apikey")
    assert query_key_names("socketio") == ("apikey", "token")
    for surface in ("ingest", "api", "evolution_webhook"):
        assert query_key_names(surface) == ()


def test_stray_keys_are_key_parameters_a_surface_does_not_read() -> None:
    given_names = ["events", "apikey", "Token", "KEY", "access_token", "label", "cursor"]
    assert stray_keys(given_names, "api") == ["KEY", "Token", "access_token", "apikey"]
    assert stray_keys(given_names, "socketio") == ["KEY", "access_token"]
    assert stray_keys(["instance", "since", "limit"], "api") == []


def test_the_markdown_shows_every_route_and_name() -> None:
    text = as_markdown()
    for row in KEYS_IN_URLS:
        for route in row.routes:
            assert f"`{route}`" in text
        for name in row.names:
            assert name in text
    assert text.count("\n") == len(KEYS_IN_URLS) + 2


# -- against the running app --


@pytest.fixture
def settings(amqp_url: str, exchange_name: str, cleanup: Cleanup) -> Settings:
    return router_settings(
        amqp_url, exchange_name, websocket={"enabled": True, "global_events": True}
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Client]:
    store = MemoryStore()
    await store.put(InstanceConfig(instance="shop", token=SHOP_TOKEN))
    async with running_app(settings, ["ingest", "websocket"], store=store) as client:
        yield client


EVENT: dict[str, Any] = {"event": "call", "data": {}}
# One request of each way in that reads its key from a header: method, path, body, surface,
# the surface's own refusal counter.
HEADER_WAYS: list[tuple[str, str, Any, str, str]] = [
    ("POST", "/events/shop", EVENT, "ingest", "router_events_refused_total"),
    ("POST", "/events/shop/batch", [EVENT], "ingest", "router_events_refused_total"),
    ("POST", "/events", {**EVENT, "instance": "shop"}, "ingest", "router_events_refused_total"),
    (
        "POST",
        f"/ingest/evolution/{API_KEY}",
        EVENT,
        "evolution_webhook",
        "router_events_refused_total",
    ),
    ("POST", "/ingest/evolution", EVENT, "evolution_webhook", "router_events_refused_total"),
    ("GET", "/webhook/find/shop", None, "api", "router_api_refused_total"),
    ("POST", "/instance/create", {"instanceName": "shop"}, "api", "router_api_refused_total"),
    ("GET", "/attempts", None, "api", "router_api_refused_total"),
    ("POST", "/replay", {"since": "2026-01-01T00:00:00Z"}, "api", "router_api_refused_total"),
    (
        "POST",
        "/endpoints/enable",
        {"instance": "shop", "label": "x"},
        "api",
        "router_api_refused_total",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "surface", "counter"), HEADER_WAYS)
@pytest.mark.parametrize("parameter", ["apikey", "token", "key", "ApiKey"])
async def test_a_key_in_the_query_string_is_refused_where_a_header_can_be_sent(
    app: Client,
    method: str,
    path: str,
    body: Any,
    surface: str,
    counter: str,
    parameter: str,
) -> None:
    counts = Counts(surface, "key_in_query", counter, "key_in_query")
    answer = await app.request(method, f"{path}?{parameter}={API_KEY}", json=body)
    refusal = await answer.json()
    assert (answer.status, refusal["error"]) == (400, "key_in_query"), refusal
    assert f"?{parameter}=" in refusal["message"]
    assert "apikey header or Authorization: Bearer" in refusal["message"]
    assert API_KEY not in refusal["message"]
    assert counts.added() == (1, 1)
    # Refused with a good header too: the key in the URL has to go.
    again = await app.request(method, f"{path}?{parameter}=x", json=body, headers=AUTH)
    assert (again.status, (await again.json())["error"]) == (400, "key_in_query")


async def test_evolutions_refusal_says_the_key_may_travel_in_the_path(app: Client) -> None:
    answer = await app.post(f"/ingest/evolution?apikey={API_KEY}", json=EVENT)
    assert "/ingest/evolution/<key>" in (await answer.json())["message"]


def concrete(resource: AbstractResource) -> str:
    """A path the resource takes: each variable a value its pattern takes (a plain word,
    ``/x`` as ``/ingest/evolution{tail:/.*}`` wants, or its first literal alternative, as
    ``{block}``'s ``webhook``)."""
    info = resource.get_info()
    if "path" in info:
        return str(info["path"])
    formatter, pattern = str(info["formatter"]), info["pattern"]
    names = re.findall(r"\{(\w+)\}", formatter)
    options = []
    for name in names:
        group = re.search(rf"\(\?P<{name}>([\w|]+)\)", pattern.pattern)
        options.append(["x", "/x", *([group[1].split("|")[0]] if group else [])])
    for values in itertools.product(*options):
        path = formatter.format(**dict(zip(names, values, strict=True)))
        if pattern.fullmatch(path):
            return path
    raise AssertionError(f"no path found for {formatter}")


async def test_every_route_reads_a_key_from_its_url_only_as_the_table_says(app: Client) -> None:
    """The table and the routes cannot drift apart: a route that reads a key from its query
    is listed, and every other route either refuses a key there or wants none."""
    in_query = {route for row in KEYS_IN_URLS if row.place == "query" for route in row.routes}
    seen, refused = [], []
    for route in app.app.router.routes():
        if route.method in ("HEAD", "OPTIONS", "*"):
            continue
        assert route.resource is not None
        name = f"{route.method} {route.resource.canonical}"
        path = concrete(route.resource)
        seen.append(name)
        with_key = await app.request(route.method, f"{path}?apikey={API_KEY}", json={})
        error = await error_of(with_key)
        if name in in_query:
            assert with_key.status != 401, name
            assert (with_key.status, error) != (400, "key_in_query"), name
        elif (with_key.status, error) == (400, "key_in_query"):
            refused.append(name)
        else:  # wants no key: one in the query is neither read nor refused
            without = await app.request(route.method, path, json={})
            assert without.status != 401, f"{name} wants a key but does not refuse one in its query"
            assert with_key.status == without.status, name
    assert in_query <= set(seen)
    for name in ("POST /events/{instance}", "GET /attempts", "POST /ingest/evolution{tail}"):
        assert name in refused
    assert "GET /healthz" in seen


async def error_of(response: Any) -> str | None:
    if response.content_type != "application/json":
        return None
    body = await response.json()
    return body.get("error") if isinstance(body, dict) else None


@pytest.mark.parametrize(
    ("method", "path", "headers", "surface", "reason", "counter"),
    [
        ("POST", "/events/shop", {}, "ingest", "missing_key", "router_events_refused_total"),
        (
            "POST",
            "/events/shop",
            {"apikey": "wrong"},
            "ingest",
            "wrong_key",
            "router_events_refused_total",
        ),
        (
            "POST",
            "/events/shop",
            {"Authorization": "Bearer wrong"},
            "ingest",
            "wrong_key",
            "router_events_refused_total",
        ),
        (
            "POST",
            "/ingest/evolution/guessed-key",
            {},
            "evolution_webhook",
            "wrong_key",
            "router_events_refused_total",
        ),
        (
            "POST",
            "/ingest/evolution/wrong/call",
            {},
            "evolution_webhook",
            "wrong_key",
            "router_events_refused_total",
        ),
        (
            "POST",
            "/ingest/evolution/messages-upsert",
            {},
            "evolution_webhook",
            "missing_key",
            "router_events_refused_total",
        ),
        (
            "POST",
            "/ingest/evolution",
            {},
            "evolution_webhook",
            "missing_key",
            "router_events_refused_total",
        ),
        ("GET", "/webhook/find/shop", {}, "api", "missing_key", "router_api_refused_total"),
        (
            "GET",
            "/webhook/find/other",
            {"apikey": SHOP_TOKEN},
            "api",
            "wrong_key",
            "router_api_refused_total",
        ),
        (
            "GET",
            "/attempts",
            {"apikey": SHOP_TOKEN},
            "api",
            "wrong_key",
            "router_api_refused_total",
        ),
    ],
)
async def test_missing_and_wrong_keys_are_counted_apart(
    app: Client,
    method: str,
    path: str,
    headers: dict[str, str],
    surface: str,
    reason: str,
    counter: str,
) -> None:
    counts = Counts(surface, reason, counter, "unauthorized")
    answer = await app.request(method, path, json=EVENT, headers=headers)
    assert (answer.status, (await answer.json())["error"]) == (401, "unauthorized")
    assert counts.added() == (1, 1)


async def test_an_instance_token_with_accents_opens_its_own_instance(app: Client) -> None:
    answer = await app.get("/webhook/find/shop", headers={"apikey": SHOP_TOKEN})
    assert answer.status == 200, await answer.text()
    bearer = {"Authorization": f"Bearer {SHOP_TOKEN}"}
    assert (await app.get("/attempts?instance=shop", headers=bearer)).status == 200


async def raw_status(client: Client, head: bytes, body: bytes = b"{}") -> int:
    """The status of a request written byte for byte: a header's bytes need not be UTF-8."""
    url = client.make_url("/")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(line.split()[1])


@pytest.mark.parametrize(
    "request_line",
    [
        b"POST /events/shop HTTP/1.1",
        b"POST /ingest/evolution HTTP/1.1",
        b"GET /webhook/find/shop HTTP/1.1",
        b"GET /ws/shop HTTP/1.1",
    ],
)
@pytest.mark.parametrize("value", [b"\xff\xfe", "loja-ção-tokén".encode("latin-1"), b"caf\xc3"])
async def test_a_key_whose_bytes_are_not_utf8_is_a_wrong_key_not_a_crash(
    app: Client, request_line: bytes, value: bytes
) -> None:
    head = request_line + b"\r\nHost: x\r\nContent-Type: application/json\r\napikey: " + value
    assert await raw_status(app, head + b"\r\n") == 401
    assert (
        await raw_status(app, head.replace(b"apikey: ", b"Authorization: Bearer ") + b"\r\n") == 401
    )


@pytest.fixture
async def accented(amqp_url: str, exchange_name: str, cleanup: Cleanup) -> AsyncIterator[Client]:
    settings = router_settings(amqp_url, exchange_name, authentication={"api_key": "clé-ção"})
    async with running_app(settings, ["ingest"]) as client:
        yield client


async def test_a_router_key_with_accents_works_in_a_header_and_in_evolutions_path(
    accented: Client,
) -> None:
    body = {"event": "call", "instance": "shop", "data": {}}
    assert (
        await accented.post("/events/shop", json=EVENT, headers={"apikey": "clé-ção"})
    ).status == 202
    path = f"/ingest/evolution/{quote('clé-ção', safe='')}"
    assert (await accented.post(path, json=body)).status == 202
    assert (await accented.post(f"{path}/call", json=body)).status == 202
    assert (await accented.post("/ingest/evolution/cle-cao", json=body)).status == 401
