"""Who may open which stream, decided before the upgrade.

A token comes in the query string, under the names ``router.http.keys`` lists for the surface
(browsers cannot set headers on a WebSocket), or as an ``apikey`` header or
``Authorization: Bearer``. The global key opens every stream; an instance's own token opens
that instance's stream and no other. Peers listed in ``WEBSOCKET_ALLOWED_HOSTS`` need no token,
as in Evolution.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from typing import Literal

from aiohttp import web

from router.http.auth import count_refusal, presented_key, same_secret
from router.http.keys import Surface, query_key_names

# The instance's token, or "" when it has none.
TokenOf = Callable[[str], Awaitable[str]]


class Denied(Exception):
    """A stream refused for its token (401): ``missing_token`` or ``wrong_token``."""

    def __init__(self, reason: Literal["missing_token", "wrong_token"], detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def count(self, surface: Surface) -> None:
        """Counted beside the gateway's own refusals, in the words every surface shares."""
        count_refusal(surface, "missing_key" if self.reason == "missing_token" else "wrong_key")


def presented_token(request: web.Request, surface: Surface = "websocket") -> str | None:
    """The token from the query parameters ``surface`` reads (``router.http.keys``), else an
    ``apikey`` header or a Bearer token."""
    for name in query_key_names(surface):
        if token := request.query.get(name):
            return token
    return presented_key(request)


def parse_allowed_hosts(value: str) -> frozenset[str] | None:
    """None means every peer (``*``); otherwise normalised addresses."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if "*" in items:
        return None
    hosts: set[str] = set()
    for item in items:
        try:
            hosts.add(str(ip_address(item)))
        except ValueError:
            hosts.add(item)
    return frozenset(hosts)


def peer_allowed(peer: str | None, allowed: frozenset[str] | None) -> bool:
    if allowed is None:
        return True
    if not peer:
        return False
    try:
        address = ip_address(peer)
    except ValueError:
        return peer in allowed
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return str(address) in allowed or (mapped is not None and str(mapped) in allowed)


async def check(
    peer: str | None,
    token: str | None,
    instance: str | None,
    global_key: str,
    allowed: frozenset[str] | None,
    token_of: TokenOf,
) -> None:
    """Return when ``peer``, presenting ``token``, may open the stream of ``instance`` (None:
    every instance). Without a global key, a stream is open unless its instance has a token of
    its own."""
    if peer_allowed(peer, allowed):
        return
    own = await token_of(instance) if instance is not None else ""
    if not global_key and not own:
        return
    if not token:
        raise Denied(
            "missing_token", "a token is required: ?token=, an apikey header or a Bearer token"
        )
    if same_secret(global_key, token) or same_secret(own, token):
        return
    scope = f"instance {instance!r}" if instance else "the stream of every instance"
    raise Denied("wrong_token", f"this token does not open {scope}")
