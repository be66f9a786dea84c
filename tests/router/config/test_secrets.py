"""Sealing the secrets of configuration documents: the keys of ``ROUTER_SECRETS_KEY``, which
fields are sealed, rotation, refusals, and the URL credentials the logs mask (and the store
seals)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet

from router.config.envcheck import SettingsError
from router.config.secrets import (
    SEALED,
    Review,
    Sealer,
    SecretsKeyError,
    carries_credential,
    is_sealed,
    parse_keys,
)
from router.config.settings import Settings
from router.logging import mask_url
from schemas.instance_config import InstanceConfig, PusherConfig, WebhookConfig

TOKEN = "instance-token-9f2c"
PUSHER_SECRET = "pusher-secret-71ab"
HOOK_SECRET = "whsec_c2lnbmluZy1rZXktb2YtdGhpcy13ZWJob29r"
JWT_KEY = "jwt-signing-key-5e1d"
BEARER = "Bearer api-bearer-0c3f"
URL_PASSWORD = "url-password-77aa"
QUERY_TOKEN = "query-token-42bd"
SECRETS = (TOKEN, PUSHER_SECRET, HOOK_SECRET, JWT_KEY, BEARER, URL_PASSWORD, QUERY_TOKEN)


def new_key() -> str:
    return Fernet.generate_key().decode()


# Every kind of secret, and fields around them that are not secret.
DOCUMENT = InstanceConfig(
    instance="shop",
    token=TOKEN,
    webhooks=(
        WebhookConfig(
            label="crm",
            url="https://crm.example.com/hook",
            headers={"jwt_key": JWT_KEY, "X-Tenant": "t1"},
            secret=HOOK_SECRET,
        ),
        WebhookConfig(
            label="n8n",
            url=f"https://bot:{URL_PASSWORD}@n8n.example.com/hook",
            headers={"Authorization": BEARER},
        ),
        WebhookConfig(label="q", url=f"https://q.example.com/hook?token={QUERY_TOKEN}&a=1"),
    ),
    pusher=PusherConfig(enabled=True, app_id="app-1", key="public-key", secret=PUSHER_SECRET),
).to_document()


def document() -> dict[str, Any]:
    return copy.deepcopy(DOCUMENT)


# --- the keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", " , "])
def test_no_key(text: str) -> None:
    assert parse_keys(text) == []
    assert not Sealer.from_text(text).enabled


def test_several_keys_first_one_first() -> None:
    first, second = new_key(), new_key()
    keys = parse_keys(f" {first} ,{second}")
    assert len(keys) == 2
    token = keys[0].encrypt(b"x")
    assert Fernet(first).decrypt(token) == b"x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not-a-key", "the key is not a Fernet key"),
        (new_key() + "x", "the key is not a Fernet key"),
        (new_key()[:-4], "the key is not a Fernet key"),
        (f"{new_key()},bad", "key 2 of 2 is not a Fernet key"),
        (f"{new_key()},,{new_key()}", "key 2 of 3 is empty"),
    ],
)
def test_malformed_keys_are_refused_without_repeating_them(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_keys(text)
    for part in text.split(","):
        if part:
            assert part not in str(caught.value)


def test_a_malformed_key_stops_the_settings_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ROUTER_SECRETS_KEY", "hunter2-is-no-key")
    empty = tmp_path / ".env"
    empty.write_text("")
    with pytest.raises(SettingsError) as caught:
        Settings.load(empty)
    text = str(caught.value)
    assert "ROUTER_SECRETS_KEY: " in text
    assert "not a Fernet key" in text
    assert "hunter2" not in text


def test_a_good_key_is_a_secret_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = new_key()
    monkeypatch.setenv("ROUTER_SECRETS_KEY", key)
    empty = tmp_path / ".env"
    empty.write_text("")
    settings = Settings.load(empty)
    assert settings.router.secrets_key.get_secret_value() == key
    assert key not in repr(settings.router)
    assert Settings.build().router.secrets_key.get_secret_value() == ""


# --- sealing and opening --------------------------------------------------------------------


def test_round_trip_seals_every_secret_and_nothing_else() -> None:
    sealer = Sealer.from_text(new_key())
    plain = document()
    sealed = sealer.seal(plain)
    text = orjson.dumps(sealed).decode()
    for secret in SECRETS:
        assert secret not in text
    assert is_sealed(sealed["token"])
    assert is_sealed(sealed["pusher"]["secret"])
    crm, n8n, q = sealed["webhooks"]
    assert is_sealed(crm["secret"])
    assert is_sealed(crm["headers"]["jwt_key"])
    assert is_sealed(n8n["url"])
    assert is_sealed(n8n["headers"]["Authorization"])
    assert is_sealed(q["url"])
    # What is not a secret stays readable in the database.
    assert crm["url"] == "https://crm.example.com/hook"
    assert crm["headers"]["X-Tenant"] == "t1"
    assert n8n["secret"] is None
    assert sealed["pusher"]["app_id"] == "app-1"
    assert sealed["pusher"]["key"] == "public-key"
    assert sealer.open(sealed) == plain
    assert plain == document()  # sealing copies; the document given is left as it was
    assert InstanceConfig.from_document(sealer.open(sealed)).token == TOKEN


def test_empty_secrets_stay_empty() -> None:
    sealer = Sealer.from_text(new_key())
    bare = InstanceConfig(instance="bare").to_document()
    assert sealer.seal(bare) == bare


def test_each_seal_differs() -> None:
    sealer = Sealer.from_text(new_key())
    assert sealer.seal(document())["token"] != sealer.seal(document())["token"]


def test_without_a_key_nothing_is_sealed_and_plain_values_read() -> None:
    sealer = Sealer()
    assert sealer.seal(document()) == document()
    assert sealer.open(document()) == document()


def test_plain_values_written_before_the_key_still_read() -> None:
    assert Sealer.from_text(new_key()).open(document()) == document()


def test_a_string_that_looks_sealed_is_a_plain_value() -> None:
    # Only an object in a string's place is sealed: a client cannot store a value that the
    # store would then refuse to open.
    lookalike = {**InstanceConfig(instance="x").to_document(), "token": "fernet:gAAAAAB"}
    assert Sealer().open(lookalike) == lookalike
    assert Sealer().review([("x", lookalike)]) == Review(unsealed=("x",))


def test_rotation_opens_with_an_older_key_and_seals_with_the_first() -> None:
    old, new = new_key(), new_key()
    before = Sealer.from_text(old).seal(document())
    rotated = Sealer.from_text(f"{new},{old}")
    assert rotated.open(before) == document()
    assert rotated.review([("shop", before)]) == Review(stale=("shop",))
    after = rotated.seal(rotated.open(before))
    assert Sealer.from_text(new).open(after) == document()
    with pytest.raises(SecretsKeyError):
        Sealer.from_text(old).open(after)
    assert rotated.review([("shop", after)]) == Review()


def test_a_wrong_key_is_refused_naming_the_setting() -> None:
    sealed = Sealer.from_text(new_key()).seal(document())
    with pytest.raises(SecretsKeyError, match="no key in ROUTER_SECRETS_KEY opens") as caught:
        Sealer.from_text(new_key()).open(sealed, "shop")
    assert "'shop'" in str(caught.value)
    with pytest.raises(SecretsKeyError, match="ROUTER_SECRETS_KEY is not set"):
        Sealer().review([("shop", sealed)])


def test_a_broken_sealed_value_is_refused_not_emptied() -> None:
    broken = {**InstanceConfig(instance="x").to_document(), "token": {SEALED: "gAAAA-broken"}}
    with pytest.raises(SecretsKeyError):
        Sealer.from_text(new_key()).open(broken)


def test_review_says_what_to_write_again() -> None:
    key = new_key()
    sealer = Sealer.from_text(key)
    bare = InstanceConfig(instance="bare").to_document()
    rows = [("plain", document()), ("sealed", sealer.seal(document())), ("bare", bare)]
    assert sealer.review(rows) == Review(stale=("plain",), unsealed=("plain",))
    assert Sealer().review([("plain", document()), ("bare", bare)]) == Review(unsealed=("plain",))


def test_sealed_headers_and_urls_open_whatever_their_names() -> None:
    # Opening does not depend on today's rules of what is a credential.
    sealer = Sealer.from_text(new_key())
    token = sealer.seal({"token": "v"})["token"]
    hook = {"label": "a", "url": token, "headers": {"X-Plain": token}}
    opened = sealer.open({"instance": "x", "webhooks": [hook]})
    assert opened["webhooks"][0]["url"] == "v"
    assert opened["webhooks"][0]["headers"] == {"X-Plain": "v"}


# --- URL credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://h/x?token=abc&b=1", "https://h/x?token=***&b=1"),
        ("https://h/x?a=1&API_KEY=zz#f", "https://h/x?a=1&API_KEY=***#f"),
        ("https://h/x?access_token=a.b.c", "https://h/x?access_token=***"),
        ("https://h/api?key=k1", "https://h/api?key=***"),
        ("https://fn.example.net/api/hook?code=c0de", "https://fn.example.net/api/hook?code=***"),
        ("https://u:pw@h/x?sig=s1", "https://u:***@h/x?sig=***"),
        ("posting to https://h/x?secret=s2 failed", "posting to https://h/x?secret=*** failed"),
    ],
)
def test_query_credentials_are_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert carries_credential(url)


@pytest.mark.parametrize(
    "url",
    ["https://h/x", "https://h/x?monkey=1&keys=2", "https://h/x?token=", "https://user@h/x"],
)
def test_urls_without_credentials_are_left_alone(url: str) -> None:
    assert mask_url(url) == url
    assert not carries_credential(url)
