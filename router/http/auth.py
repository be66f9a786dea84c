"""The API key check shared by every authenticated endpoint."""

from __future__ import annotations

import hmac

from aiohttp import web


def presented_key(request: web.Request) -> str | None:
    """The key from the ``apikey`` header or ``Authorization: Bearer``, if any."""
    key = request.headers.get("apikey")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def key_matches(expected: str, presented: str | None) -> bool:
    """True when no key is configured, or the presented one equals it (constant time)."""
    if not expected:
        return True
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())
