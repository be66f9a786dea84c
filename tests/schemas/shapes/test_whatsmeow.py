"""Baileys' message JSON in whatsmeow's spelling, and shapes that never fail on odd data."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.shapes import SHAPES, names_of, shaped
from schemas.shapes.whatsmeow import WHATSMEOW_NAMES, message
from tests.support import evolution_data as evo

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["key", "message", "status", "state", "presences", "participants", "action", "qrcode"]
)
DATA = JSON | st.dictionaries(KEYS, JSON)


def test_initialisms_are_spelled_as_whatsmeow_does() -> None:
    assert message(
        {
            "url": "u",
            "fileEncSha256": {"0": 255},
            "contextInfo": {"stanzaId": "s", "mentionedJid": ["a@s"], "remoteJid": "r"},
            "key": {"id": "i", "fromMe": True},
            "base64": "Evolution's own field",
        }
    ) == {
        "URL": "u",
        "fileEncSHA256": "/w==",
        "contextInfo": {"stanzaID": "s", "mentionedJID": ["a@s"], "remoteJID": "r"},
        "key": {"ID": "i", "fromMe": True},
    }


def test_objects_that_are_not_byte_arrays_stay_objects() -> None:
    assert message({"a": {"0": 300}, "b": {"0": "x"}, "c": {}}) == {
        "a": {"0": 300},
        "b": {"0": "x"},
        "c": {},
    }


def test_no_two_names_differ_only_in_case() -> None:
    assert len({name.lower() for name in WHATSMEOW_NAMES}) == len(WHATSMEOW_NAMES)


@given(data=DATA, wire=st.sampled_from([row.wire for row in SHAPES]))
def test_any_data_is_shaped_or_left_out_never_an_error(data: Any, wire: str) -> None:
    for payload_format in ("ryze", "vzaps"):
        got = shaped(evo.envelope(wire, data), payload_format, token="t", base_url="b")
        if got is not None:
            kind = got["event"] if payload_format == "ryze" else got["type"]
            row = next(r for r in SHAPES if r.wire == wire)
            assert kind in names_of(row.kind(payload_format))
            assert got["id"] == evo.EVENT_ID
