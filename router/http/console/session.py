"""The console's session: the API key exchanged once for a cookie the page's script cannot
read, and the anti-forgery token every change must carry. Pure: times and keys come in.

A session is ``<expires>.<nonce>.<mac>``, the MAC an HMAC-SHA256 under a key derived from the
router's API key, so changing the key ends every session and the router keeps no session
table (every replica accepts every session). The anti-forgery token is the session's own HMAC
under another derived key: the page learns it from the answer to its sign-in, a page of another
site can learn neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

SESSION_COOKIE: Final = "router_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_SECONDS: Final = 12 * 3600
# Methods that change nothing: the only ones a session cookie alone may make.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def _derived(api_key: str, purpose: str) -> bytes:
    text = f"router console {purpose}\0{api_key}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _mac(api_key: str, purpose: str, text: str) -> str:
    return hmac.new(_derived(api_key, purpose), text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires: int


def new_session(api_key: str, now: float) -> Session:
    expires = int(now) + SESSION_SECONDS
    body = f"{expires}.{secrets.token_hex(16)}"
    return Session(f"{body}.{_mac(api_key, 'session', body)}", expires)


def session_valid(api_key: str, token: str | None, now: float) -> bool:
    """True for a session this key issued that has not expired."""
    if not token or token.count(".") != 2:
        return False
    expires, nonce, mac = token.split(".")
    if not expires.isdigit() or not nonce.isalnum():
        return False
    if not hmac.compare_digest(mac, _mac(api_key, "session", f"{expires}.{nonce}")):
        return False
    return now < int(expires)


def csrf_token(api_key: str, session_token: str) -> str:
    return _mac(api_key, "csrf", session_token)


def csrf_valid(api_key: str, session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), csrf_token(api_key, session_token).encode()
    )
