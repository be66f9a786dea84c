"""Instance names as URL path segments: on every route of the router that names an instance in
its path (``/ws/{instance}``, ``/events/{instance}``, the configuration dialects), a name a
platform allows, percent-encoded as clients do and sent as their HTTP client sends it, is read
back by the route as the very name. Routing only: the app is built, never started."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import AbstractResource
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from adapters.websocket.sdk import EventClient
from router.app import create_app
from router.config.store import MemoryStore
from tests.conftest import AMQP_URL
from tests.support.app import router_settings

names = st.text(
    st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=255
) | st.sampled_from(["Loja Centro", "joão", "client.one", "user@mail.com", "a/b", "%41", "?#"])
# Dot segments are removed by clients, percent-encoded or not (RFC 3986 5.2.4); see below.
DOT_SEGMENTS = (".", "..")
# aiohttp's default pattern for a path variable, [^{}/]+, takes no brace; see below.
BRACES = ("{", "}", "a{b}", "{x}")


def reachable(name: str) -> bool:
    return name not in DOT_SEGMENTS and not set(name) & {"{", "}"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> web.Application:
    media = Path(tmp_path_factory.mktemp("media"))
    settings = router_settings(
        AMQP_URL,
        "test-paths-never-declared",
        websocket={"enabled": True, "global_events": True},
        router={"media_store": str(media)},
    )
    return create_app(settings, ["ingest", "websocket"], store=MemoryStore())


def path_of(resource: AbstractResource, instance: str) -> str:
    """A path the resource takes, naming ``instance`` (already percent-encoded): every other
    variable given a value its pattern takes (a plain word, ``/x``, or its first literal
    alternative, as ``{block}``'s ``webhook``)."""
    info = resource.get_info()
    formatter, pattern = str(info["formatter"]), info["pattern"]
    others = [name for name in re.findall(r"\{(\w+)\}", formatter) if name != "instance"]
    options = []
    for name in others:
        group = re.search(rf"\(\?P<{name}>([\w|]+)\)", pattern.pattern)
        options.append(["x", "/x", *([group[1].split("|")[0]] if group else [])])
    for values in itertools.product(*options):
        chosen = dict(zip(others, values, strict=True))
        if pattern.fullmatch(formatter.format(instance="x", **chosen)):
            return formatter.format(instance=instance, **chosen)
    raise AssertionError(f"no path found for {formatter}")


def read_back(app: web.Application, name: str) -> dict[str, str | None]:
    """For each route with ``{instance}`` in its path, the instance it reads from a URL
    naming ``name``, as aiohttp's client sends that URL."""

    async def resolve_all() -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        segment = quote(name, safe="")
        for route in app.router.routes():
            resource = route.resource
            if resource is None or "{instance}" not in resource.canonical:
                continue
            sent = URL("http://router:8080" + path_of(resource, segment))
            info = await app.router.resolve(make_mocked_request(route.method, sent.raw_path))
            found[f"{route.method} {resource.canonical}"] = info.get("instance")
        stream = URL(EventClient("http://router:8080", name).stream_url())
        info = await app.router.resolve(make_mocked_request("GET", stream.raw_path_qs))
        found["EventClient"] = info.get("instance")
        return found

    return asyncio.run(resolve_all())


@given(name=names.filter(reachable))
def test_any_name_travels_in_a_path_and_is_read_back_unchanged(
    app: web.Application, name: str
) -> None:
    got = read_back(app, name)
    assert {"EventClient", "GET /ws/{instance}", "POST /events/{instance}"} <= set(got)
    assert got == dict.fromkeys(got, name)


@pytest.mark.xfail(
    strict=True,
    reason="an instance named '.' or '..' cannot be a URL path segment: clients remove dot "
    "segments, percent-encoded or not",
)
@pytest.mark.parametrize("name", DOT_SEGMENTS)
def test_dot_segments_cannot_travel_in_a_path(app: web.Application, name: str) -> None:
    got = read_back(app, name)
    assert got == dict.fromkeys(got, name)


@pytest.mark.parametrize("name", BRACES)
def test_names_with_braces_reach_their_routes(app: web.Application, name: str) -> None:
    got = read_back(app, name)
    assert got == dict.fromkeys(got, name)
