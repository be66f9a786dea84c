"""Outgoing webhook authentication: Standard Webhooks signatures and Evolution's `jwt_key`.

Standard Webhooks (https://www.standardwebhooks.com/) lets receivers verify a delivery with any
of the published libraries, so the signed content and header layout must match the spec
byte for byte. Evolution API instead lets a webhook carry a `jwt_key` header whose value is a
shared secret; the sender turns it into a short-lived HS256 bearer token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import orjson

SECRET_PREFIX: Final = "whsec_"
SIGNATURE_VERSION: Final = "v1"

HEADER_ID: Final = "webhook-id"
HEADER_TIMESTAMP: Final = "webhook-timestamp"
HEADER_SIGNATURE: Final = "webhook-signature"

JWT_KEY_HEADER: Final = "jwt_key"
JWT_DEFAULT_TTL: Final = 600

_SECRET_SEPARATORS: Final = re.compile(r"[\s,]+")
# The JWT header never changes, so it is encoded once rather than on every delivery.
_JWT_HEADER_SEGMENT: Final = (
    base64.urlsafe_b64encode(orjson.dumps({"alg": "HS256", "typ": "JWT"})).rstrip(b"=").decode()
)


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A decoded signing key. Parsing happens once at configuration time so a malformed
    secret is reported at start-up, not on the first delivery."""

    # Kept out of repr so logging a settings object never prints key material.
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("webhook secret is empty")

    @classmethod
    def parse(cls, text: str) -> WebhookSecret:
        """Accept `whsec_<base64>` as the spec writes it, or the bare base64 key."""
        encoded = text.strip()
        encoded = encoded.removeprefix(SECRET_PREFIX)
        if not encoded:
            raise ValueError("webhook secret is empty; expected 'whsec_<base64 key>'")
        # Secrets are often pasted with their trailing '=' trimmed; restore it rather than
        # rejecting a key that is otherwise well formed.
        padded = encoded + "=" * (-len(encoded) % 4)
        try:
            key = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            # The offending text is left out of the message because it is a secret.
            raise ValueError(
                "webhook secret is not valid base64; expected 'whsec_<base64 key>' "
                "or the base64 key alone"
            ) from None
        return cls(key)

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """Return `v1,<base64 signature>` over `{msg_id}.{timestamp}.{body}`."""
        # The body is appended as raw bytes: receivers hash exactly what arrived on the
        # wire, so re-encoding it here could only introduce mismatches.
        content = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(self.key, content, hashlib.sha256).digest()
        return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def parse_secrets(text: str) -> tuple[WebhookSecret, ...]:
    """Parse a list of secrets separated by whitespace and/or commas.

    Several secrets are configured while one is being rotated out; every delivery is
    signed with all of them so receivers holding either key keep working.
    """
    return tuple(WebhookSecret.parse(part) for part in _SECRET_SEPARATORS.split(text) if part)


def signature_headers(
    secrets: Iterable[WebhookSecret],
    msg_id: str,
    body: bytes,
    now: float | None = None,
) -> dict[str, str]:
    """Headers for one delivery attempt.

    `webhook-id` and `webhook-timestamp` are sent even without secrets because receivers
    also use them for de-duplication and replay windows.
    """
    timestamp = math.floor(time.time() if now is None else now)
    headers = {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(timestamp)}
    signatures = [secret.sign(msg_id, timestamp, body) for secret in secrets]
    if signatures:
        headers[HEADER_SIGNATURE] = " ".join(signatures)
    return headers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hs256_jwt(key: str, now: float | None = None, ttl: int = JWT_DEFAULT_TTL) -> str:
    """A compact HS256 JWT carrying the claims Evolution API receivers check."""
    if not key:
        # An HMAC with an empty key is forgeable by anyone; refuse instead of sending it.
        raise ValueError("jwt_key is empty")
    if ttl <= 0:
        raise ValueError(f"JWT lifetime must be positive, got {ttl}")
    issued = math.floor(time.time() if now is None else now)
    claims = {"iat": issued, "exp": issued + ttl, "app": "evolution", "action": "webhook"}
    signing_input = f"{_JWT_HEADER_SEGMENT}.{_b64url(orjson.dumps(claims))}"
    signature = hmac.new(key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def apply_jwt_key(headers: Mapping[str, str], now: float | None = None) -> dict[str, str]:
    """Replace a configured `jwt_key` header with `Authorization: Bearer <jwt>`.

    The key is a secret meant for signing, so it must never reach the receiver as a header
    of its own. Header names are matched case-insensitively because they come from user
    configuration; if the name appears more than once, the first value wins.
    """
    key: str | None = None
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() == JWT_KEY_HEADER:
            if key is None:
                key = value
            continue
        kept[name] = value
    if key is None:
        return kept
    # Drop any other spelling of Authorization so the request does not carry two
    # conflicting credentials.
    result = {name: value for name, value in kept.items() if name.lower() != "authorization"}
    result["Authorization"] = f"Bearer {hs256_jwt(key, now)}"
    return result
