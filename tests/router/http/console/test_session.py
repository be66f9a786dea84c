"""The console's sessions and anti-forgery tokens, without I/O: issued by one key, refused by
any other, ended past their lifetime."""

from __future__ import annotations

import pytest

from router.http.console.session import (
    SESSION_SECONDS,
    csrf_token,
    csrf_valid,
    new_session,
    session_valid,
)

NOW = 1_800_000_000.0


def test_a_session_is_valid_until_it_ends_and_not_after() -> None:
    session = new_session("k", NOW)
    assert session.expires == int(NOW) + SESSION_SECONDS
    assert session_valid("k", session.token, NOW)
    assert session_valid("k", session.token, NOW + SESSION_SECONDS - 1)
    assert not session_valid("k", session.token, NOW + SESSION_SECONDS)
    assert not session_valid("k", session.token, NOW + SESSION_SECONDS + 3600)


def test_a_new_key_ends_every_session() -> None:
    session = new_session("old", NOW)
    assert not session_valid("new", session.token, NOW)


@pytest.mark.parametrize(
    "token",
    ["", "x", "1.2", "a.b.c.d", "9999999999.nonce.", "abc.nonce.mac", "9999999999.n-n.mac"],
)
def test_anything_else_is_no_session(token: str) -> None:
    assert not session_valid("k", token, NOW)
    assert not session_valid("k", None, NOW)


def test_a_session_whose_time_was_pushed_out_is_refused() -> None:
    expires, nonce, mac = new_session("k", NOW).token.split(".")
    assert not session_valid("k", f"{int(expires) + 10**6}.{nonce}.{mac}", NOW)


def test_the_anti_forgery_token_belongs_to_its_session_and_key() -> None:
    one, other = new_session("k", NOW), new_session("k", NOW)
    token = csrf_token("k", one.token)
    assert csrf_valid("k", one.token, token)
    assert not csrf_valid("k", other.token, token)
    assert not csrf_valid("other", one.token, token)
    assert not csrf_valid("k", one.token, None)
    assert not csrf_valid("k", one.token, "\udcff")  # bytes a header may carry, no error
    assert token != one.token
