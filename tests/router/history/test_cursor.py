"""Page cursors: opaque, accepted only from the key that issued them and for the filters they
were issued for; anything edited or made up is refused."""

from __future__ import annotations

import base64

import pytest

from router.config.store.attempts import Position
from router.history.cursor import BadCursor, cursor_key, decode_cursor, encode_cursor

KEY = cursor_key("change-me")
FILTERS = {"instance": "shop", "since": "2026-01-01T00:00:00.000Z"}
HERE = Position("2026-01-02T03:04:05.678Z", 41)


def test_a_cursor_comes_back_as_its_position() -> None:
    cursor = encode_cursor(HERE, FILTERS, KEY)
    assert decode_cursor(cursor, dict(reversed(FILTERS.items())), KEY) == HERE
    assert "shop" not in cursor


def test_cursors_are_url_safe() -> None:
    cursor = encode_cursor(Position("2026-01-02T03:04:05.678Z", 2**62), {"label": "ü/?&"}, KEY)
    assert all(c.isalnum() or c in "-_." for c in cursor)


@pytest.mark.parametrize(
    "made_up",
    [
        "",
        "nonsense",
        "a.b",
        "....",
        "€.€",
        encode_cursor(HERE, FILTERS, KEY) + "x",
        encode_cursor(HERE, FILTERS, KEY).replace(".", ""),
    ],
)
def test_made_up_cursors_are_refused(made_up: str) -> None:
    with pytest.raises(BadCursor, match="not issued"):
        decode_cursor(made_up, FILTERS, KEY)


def test_an_edited_position_is_refused() -> None:
    body, mac = encode_cursor(HERE, FILTERS, KEY).split(".")
    edited = base64.urlsafe_b64encode(b"2026-01-02T03:04:05.678Z|40").rstrip(b"=").decode()
    assert edited != body
    with pytest.raises(BadCursor):
        decode_cursor(f"{edited}.{mac}", FILTERS, KEY)


def test_a_cursor_of_another_key_is_refused() -> None:
    other = encode_cursor(HERE, FILTERS, cursor_key("another key"))
    with pytest.raises(BadCursor):
        decode_cursor(other, FILTERS, KEY)


@pytest.mark.parametrize(
    "filters",
    [{}, {"instance": "shop"}, {**FILTERS, "instance": "shop2"}, {**FILTERS, "label": "crm"}],
)
def test_a_cursor_used_with_other_filters_is_refused(filters: dict[str, str]) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(encode_cursor(HERE, FILTERS, KEY), filters, KEY)
