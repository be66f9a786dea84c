"""Reading Baileys' values as Evolution writes them."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.shapes.baileys import as_bytes, content_of, key_of, seconds, sent_at


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1796218198, 1796218198),
        ("1796218198", 1796218198),
        ({"low": 1796218198, "high": 0, "unsigned": True}, 1796218198),
        ({"low": -1, "high": 0}, 2**32 - 1),
        (True, None),
        ("soon", None),
        (None, None),
    ],
)
def test_seconds(value: Any, expected: int | None) -> None:
    assert seconds(value) == expected


def test_sent_at_falls_back_to_milliseconds_then_the_default() -> None:
    assert sent_at({"messageTimestamp": 0}, "d") == "1970-01-01T00:00:00Z"
    assert sent_at({"timestampMs": "1796218190000"}, "d") == "2026-12-02T13:29:50Z"
    assert sent_at({"messageTimestamp": 10**15}, "d") == "d"
    assert sent_at({}, "d") == "d"


def test_byte_arrays() -> None:
    assert as_bytes({"0": 104, "1": 105}) == "aGk="
    assert as_bytes({"1": 104}) is None  # not from zero
    assert as_bytes({}) is None


def test_wrapped_content_is_opened() -> None:
    content = content_of(
        {
            "ephemeralMessage": {
                "message": {"viewOnceMessageV2": {"message": {"audioMessage": {"ptt": True}}}}
            },
            "messageContextInfo": {},
        }
    )
    assert (content.kind, content.media) == ("audioMessage", "ptt")
    assert content.wrappers == {"ephemeralMessage", "viewOnceMessageV2"}
    assert content_of({"conversation": "hi"}).text == "hi"
    assert content_of({"documentMessage": {"caption": "c"}}).text == "c"
    assert content_of("not a message").kind == ""


def test_keys_from_every_place_evolution_puts_them() -> None:
    assert (
        key_of({"key": {"remoteJid": "a@g.us", "participant": "p", "id": "1"}}).sender("me") == "p"
    )
    assert key_of({"remoteJid": "a@s", "fromMe": True, "id": "2"}).sender("me") == "me"
    assert key_of({"keyId": "3", "remoteJid": "a@s"}).id == "3"
    assert key_of(["odd"]).chat == ""
