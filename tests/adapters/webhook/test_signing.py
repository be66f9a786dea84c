"""Signatures are checked with the reference receivers (standardwebhooks, PyJWT) so the tests
fail if the wire format drifts from what real receivers accept."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import jwt
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from adapters.webhook.signing import (
    WebhookSecret,
    apply_jwt_key,
    hs256_jwt,
    parse_secrets,
    signature_headers,
)

# Two distinct keys so rotation tests can tell which one verified.
OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))
OLD_SECRET = "whsec_" + base64.b64encode(OLD_KEY).decode()
NEW_SECRET = "whsec_" + base64.b64encode(NEW_KEY).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"\xff" * 32).decode()

BODY = b'{"event":"messages.upsert","data":{"text":"ol\xc3\xa1"}}'
MSG_ID = "msg_2bV9qK7uX0fTz1"

# PyJWT warns (an error under this suite's filterwarnings) on HMAC keys under 32 bytes.
JWT_KEY = "evolution-shared-secret-0123456789abcdef"


def _headers(*secrets: str, now: float | None = None, body: bytes = BODY) -> dict[str, str]:
    return signature_headers(
        [WebhookSecret.parse(s) for s in secrets],
        MSG_ID,
        body,
        now=time.time() if now is None else now,
    )


# --- Standard Webhooks signatures -------------------------------------------------------


def test_signature_verifies_with_the_reference_library() -> None:
    headers = _headers(OLD_SECRET)
    assert Webhook(OLD_SECRET).verify(BODY, headers) == {
        "event": "messages.upsert",
        "data": {"text": "olá"},
    }


def test_every_rotating_secret_signs_so_either_one_verifies() -> None:
    headers = _headers(OLD_SECRET, NEW_SECRET)

    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(sig.startswith("v1,") for sig in signatures)
    Webhook(OLD_SECRET).verify(BODY, headers)
    Webhook(NEW_SECRET).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(BODY, headers)


def test_tampered_body_fails_verification() -> None:
    headers = _headers(OLD_SECRET)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD_SECRET).verify(BODY.replace(b"upsert", b"delete"), headers)


def test_wrong_secret_fails_verification() -> None:
    headers = _headers(OLD_SECRET)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW_SECRET).verify(BODY, headers)


def test_old_timestamp_fails_verification() -> None:
    headers = _headers(OLD_SECRET, now=time.time() - 3600)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(OLD_SECRET).verify(BODY, headers)


def test_signature_matches_an_independent_hmac_for_fixed_inputs() -> None:
    timestamp = 1_700_000_000
    # Not valid UTF-8 on purpose: the exact bytes must be signed, not a re-encoding.
    body = b"\x00\xfe\xff raw"
    expected = base64.b64encode(
        hmac.new(OLD_KEY, f"{MSG_ID}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()

    assert WebhookSecret.parse(OLD_SECRET).sign(MSG_ID, timestamp, body) == f"v1,{expected}"


def test_signature_matches_the_spec_example() -> None:
    secret = WebhookSecret.parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signed = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_headers_carry_id_and_floored_timestamp() -> None:
    headers = signature_headers(
        [WebhookSecret.parse(OLD_SECRET)], MSG_ID, BODY, now=1_700_000_000.9
    )
    assert headers["webhook-id"] == MSG_ID
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"] == WebhookSecret.parse(OLD_SECRET).sign(
        MSG_ID, 1_700_000_000, BODY
    )


def test_headers_without_secrets_have_no_signature() -> None:
    headers = signature_headers((), MSG_ID, BODY, now=1_700_000_000)
    assert headers == {"webhook-id": MSG_ID, "webhook-timestamp": "1700000000"}


def test_headers_default_to_the_current_time() -> None:
    before = int(time.time())
    headers = signature_headers((), MSG_ID, BODY)
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())


# --- Secret parsing ---------------------------------------------------------------------


def test_raw_base64_secret_equals_prefixed_one() -> None:
    raw = OLD_SECRET.removeprefix("whsec_")
    assert WebhookSecret.parse(raw).key == OLD_KEY
    assert WebhookSecret.parse(raw) == WebhookSecret.parse(OLD_SECRET)


def test_secret_with_trimmed_padding_is_accepted() -> None:
    key = b"12345"  # five bytes always needs '=' padding in base64
    encoded = base64.b64encode(key).decode()
    assert encoded.endswith("=")
    assert WebhookSecret.parse("whsec_" + encoded.rstrip("=")).key == key


@pytest.mark.parametrize(
    "text",
    ["", "   ", "whsec_", "not base64!", "whsec_abc$def", "abcde", "whsec_" + "é" * 8],
)
def test_bad_secrets_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"webhook secret is (empty|not valid base64)"):
        WebhookSecret.parse(text)


def test_secret_repr_does_not_leak_the_key() -> None:
    secret = WebhookSecret.parse(OLD_SECRET)
    assert OLD_SECRET.removeprefix("whsec_") not in repr(secret)
    assert repr(OLD_KEY) not in repr(secret)


def test_parse_secrets_splits_on_commas_and_whitespace() -> None:
    raw_new = NEW_SECRET.removeprefix("whsec_")
    secrets = parse_secrets(f" {OLD_SECRET},{raw_new}\n ,  {OTHER_SECRET} ")
    assert [s.key for s in secrets] == [OLD_KEY, NEW_KEY, b"\xff" * 32]


@pytest.mark.parametrize("text", ["", "  ", " , ,\n"])
def test_parse_secrets_of_nothing_is_empty(text: str) -> None:
    assert parse_secrets(text) == ()


def test_parse_secrets_refuses_any_bad_entry() -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        parse_secrets(f"{OLD_SECRET}, whsec_!!!!")


# --- Evolution jwt_key ------------------------------------------------------------------


def test_jwt_verifies_with_pyjwt_and_carries_the_evolution_claims() -> None:
    now = time.time()
    token = hs256_jwt(JWT_KEY, now=now)

    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"])
    assert claims == {
        "iat": int(now),
        "exp": int(now) + 600,
        "app": "evolution",
        "action": "webhook",
    }
    assert all(isinstance(claims[name], int) for name in ("iat", "exp"))
    assert claims["exp"] - claims["iat"] == 600


def test_jwt_is_unpadded_base64url() -> None:
    token = hs256_jwt(JWT_KEY, now=1_700_000_000)
    segments = token.split(".")
    assert len(segments) == 3
    assert all(s and "=" not in s and "+" not in s and "/" not in s for s in segments)


def test_jwt_ttl_is_honoured() -> None:
    claims = jwt.decode(hs256_jwt(JWT_KEY, ttl=30), JWT_KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 30


def test_expired_jwt_is_rejected() -> None:
    token = hs256_jwt(JWT_KEY, now=time.time() - 86_400)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, JWT_KEY, algorithms=["HS256"])


def test_jwt_with_another_key_is_rejected() -> None:
    token = hs256_jwt(JWT_KEY)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, JWT_KEY + "-other", algorithms=["HS256"])


def test_jwt_refuses_an_empty_key_or_non_positive_ttl() -> None:
    with pytest.raises(ValueError, match="empty"):
        hs256_jwt("")
    with pytest.raises(ValueError, match="positive"):
        hs256_jwt(JWT_KEY, ttl=0)


@pytest.mark.parametrize("name", ["jwt_key", "JWT_KEY", "Jwt_Key"])
def test_apply_jwt_key_swaps_the_key_for_a_bearer_token(name: str) -> None:
    original = {"Content-Type": "application/json", name: JWT_KEY, "X-Tenant": "acme"}
    now = time.time()

    headers = apply_jwt_key(original, now=now)

    assert set(headers) == {"Content-Type", "X-Tenant", "Authorization"}
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Tenant"] == "acme"
    scheme, token = headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    assert jwt.decode(token, JWT_KEY, algorithms=["HS256"])["iat"] == int(now)
    # The caller's configuration must not be mutated between deliveries.
    assert name in original
    assert "Authorization" not in original


def test_apply_jwt_key_replaces_any_existing_authorization() -> None:
    headers = apply_jwt_key({"authorization": "Basic abc", "jwt_key": JWT_KEY})
    assert list(headers) == ["Authorization"]
    assert headers["Authorization"].startswith("Bearer ")


def test_apply_jwt_key_without_the_header_returns_an_unchanged_copy() -> None:
    original = {"Authorization": "Basic abc", "X-Tenant": "acme"}
    headers = apply_jwt_key(original)
    assert headers == original
    assert headers is not original
