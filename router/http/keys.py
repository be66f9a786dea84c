"""Where a key may travel in a URL, and the words auth refusals are counted by.

A URL is written down wherever it passes: proxies' and load balancers' access logs, browser
history, ``Referer`` headers. So the router reads a key from a header (``apikey`` or
``Authorization: Bearer``) everywhere except where a client cannot send one, and
``KEYS_IN_URLS`` is the whole list of those exceptions. The checks read this table and the
README's list is rendered from it (``as_markdown``), so the two cannot differ. Anywhere else a
key-like query parameter is refused (400 ``key_in_query``) rather than ignored: the client's key
is already in someone's log, and silence would leave it there on every request.

Pure: no I/O, no aiohttp, so the gateway, the HTTP layer and the docs share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

# Where a request is refused for its key: a label of ``router_auth_refused_total``. A fixed
# set, never anything a caller sent.
Surface = Literal["ingest", "evolution_webhook", "api", "websocket", "socketio"]
AuthRefusal = Literal["missing_key", "wrong_key", "key_in_query"]
SURFACES: Final[tuple[Surface, ...]] = get_args(Surface)
AUTH_REFUSALS: Final[tuple[AuthRefusal, ...]] = get_args(AuthRefusal)

Place = Literal["query", "path"]


@dataclass(frozen=True, slots=True)
class UrlKey:
    """Routes that read a key from their URL: from which query parameters (``place`` query)
    or from which path segment (``place`` path), and why a header will not do there."""

    surface: Surface
    # ``METHOD /path`` as aiohttp spells a route's resource (``/ws/{instance}``).
    routes: tuple[str, ...]
    place: Place
    names: tuple[str, ...]
    why: str


KEYS_IN_URLS: Final[tuple[UrlKey, ...]] = (
    UrlKey(
        "websocket",
        ("GET /ws", "GET /ws/{instance}"),
        "query",
        ("token", "apikey"),
        "a browser cannot set headers on a WebSocket",
    ),
    UrlKey(
        "socketio",
        ("GET /socket.io/", "POST /socket.io/"),
        "query",
        ("apikey", "token"),
        "Evolution's Socket.IO front-ends send it there (`query: {apikey}`), and a browser "
        "cannot set headers on a WebSocket",
    ),
    UrlKey(
        "evolution_webhook",
        ("POST /ingest/evolution/{key}", "POST /ingest/evolution/{key}/{suffix}"),
        "path",
        ("key",),
        "Evolution's global webhook sends no headers of its own",
    ),
)

# Query parameters some client or other sends a key as, compared case-insensitively.
KEY_PARAMETERS: Final = frozenset({"apikey", "api_key", "api-key", "token", "access_token", "key"})
# What a refusal tells the client to do instead.
HEADER_WAYS: Final = "the apikey header or Authorization: Bearer <key>"


def query_key_names(surface: Surface) -> tuple[str, ...]:
    """The query parameters ``surface`` reads a key from, in the order it tries them; none
    for most surfaces."""
    return tuple(
        name
        for row in KEYS_IN_URLS
        if row.surface == surface and row.place == "query"
        for name in row.names
    )


def stray_keys(parameters: Iterable[str], surface: Surface) -> list[str]:
    """The query parameters among ``parameters`` that carry a key ``surface`` does not read
    from the query, as the client spelled them."""
    read = {name.lower() for name in query_key_names(surface)}
    return sorted(
        {name for name in parameters if name.lower() in KEY_PARAMETERS and name.lower() not in read}
    )


def as_markdown() -> str:
    """The table as the README shows it."""
    lines = ["| where | the key | why |", "| --- | --- | --- |"]
    for row in KEYS_IN_URLS:
        routes = ", ".join(f"`{route}`" for route in row.routes)
        if row.place == "query":
            carried = "query: " + " or ".join(f"`?{name}=`" for name in row.names)
        else:
            carried = "path: " + ", ".join(f"`{{{name}}}`" for name in row.names)
        lines.append(f"| {routes} | {carried} | {row.why} |")
    return "\n".join(lines) + "\n"
