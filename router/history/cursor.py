"""Page cursors of ``GET /attempts``: opaque to clients, and tamper-evident.

A cursor is a keyset position (the ``at`` and row id of the last record answered) with an
HMAC over it and over the query's filters, keyed from the API key. Every replica sharing the
key accepts the others' cursors; a cursor edited, forged, or used with other filters than it
was issued for is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping

import orjson

from router.config.store.attempts import Position

_CONTEXT = b"evrouter attempts cursor v1"
_MAC_BYTES = 16
_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


class BadCursor(ValueError):
    """A cursor this router did not issue for this query."""


def cursor_key(api_key: str) -> bytes:
    """The key cursors are signed with. Without an API key anyone may read the history, and
    the key, known to all, still catches a cursor edited by mistake."""
    return hmac.new(_CONTEXT, api_key.encode(), hashlib.sha256).digest()


def scope_of(filters: Mapping[str, str]) -> bytes:
    """The filters a cursor belongs to, in one canonical spelling."""
    return orjson.dumps(dict(sorted(filters.items())))


def _mac(key: bytes, body: bytes, scope: bytes) -> bytes:
    return hmac.new(key, body + b"\n" + scope, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(position: Position, filters: Mapping[str, str], key: bytes) -> str:
    body = f"{position.at}|{position.row}".encode()
    return f"{_b64(body)}.{_b64(_mac(key, body, scope_of(filters)))}"


def decode_cursor(cursor: str, filters: Mapping[str, str], key: bytes) -> Position:
    """The position ``cursor`` stands for; ``BadCursor`` unless this key issued it for these
    filters."""
    refused = BadCursor(
        "cursor was not issued for this query: send back the `next` of the previous answer "
        "unchanged, with the same filters"
    )
    body_text, dot, mac_text = cursor.partition(".")
    if not dot or not cursor.isascii():
        raise refused
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise refused from None
    if not hmac.compare_digest(mac, _mac(key, body, scope_of(filters))):
        raise refused
    # Signed by this key, so well formed; checked all the same rather than trusted.
    at, bar, row = body.decode("ascii", "replace").partition("|")
    if not bar or not _AT.fullmatch(at) or not row.isdigit():
        raise refused
    return Position(at, int(row))
