"""Keys: where a request presents one, how it is compared, and how a refusal for one is
counted. Every comparison of a key, token or password in the router goes through
``same_secret``."""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from router import metrics
from router.http.keys import AUTH_REFUSALS, SURFACES, AuthRefusal, Surface, query_key_names


def presented_key(request: web.Request) -> str | None:
    """The key from the ``apikey`` header or ``Authorization: Bearer``, if any."""
    key = request.headers.get("apikey")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _digest(secret: str) -> bytes:
    # aiohttp keeps header bytes that are not UTF-8 as lone surrogates; "surrogatepass" encodes
    # any str, so such a header is a wrong key rather than an exception (a 500).
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def same_secret(expected: str, presented: str) -> bool:
    """True when ``presented`` is ``expected`` and ``expected`` is set (an empty one, an
    instance without a token, opens nothing). Compared as SHA-256 digests in constant time:
    ``compare_digest`` alone returns early when the lengths differ, which would tell a caller
    the key's length; two digests are always 32 bytes."""
    return bool(expected) and hmac.compare_digest(_digest(expected), _digest(presented))


def key_matches(expected: str, presented: str | None) -> bool:
    """True when no key is configured, or the presented one is it."""
    if not expected:
        return True
    return presented is not None and same_secret(expected, presented)


def refusal_of(presented: str | None) -> AuthRefusal:
    return "missing_key" if not presented else "wrong_key"


def count_refusal(surface: Surface, reason: AuthRefusal) -> None:
    metrics.AUTH_REFUSED.labels(surface=surface, reason=reason).inc()


def _zero_series() -> None:
    # Every pair a surface can give exists from the start at 0, so a rate or an alert on one
    # works before its first refusal; a surface that reads its key from the query never
    # refuses one there.
    for surface in SURFACES:
        for reason in AUTH_REFUSALS:
            if reason != "key_in_query" or not query_key_names(surface):
                metrics.AUTH_REFUSED.labels(surface=surface, reason=reason)


_zero_series()
