"""RyzeAPI's and VZaps' shapes of Evolution's events: the table, and exact payloads built from
events as Evolution 2.3 sends them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas import CATALOG
from schemas.shapes import (
    SHAPES,
    ByData,
    PayloadFormat,
    markdown_table,
    platform_type,
    shaped,
    types_of,
    wires_of,
)

# Bodies as Evolution 2.3 emits them (data as Baileys gives it), one per kind of rule.
UPSERT = {
    "key": {"remoteJid": "5511999999999@s.whatsapp.net", "fromMe": False, "id": "3EB0C4"},
    "pushName": "Ana",
    "message": {"conversation": "olá"},
    "messageType": "conversation",
    "messageTimestamp": 1764681000,
    "instanceId": "9f1c",
    "source": "android",
}
OPEN = {"instance": "shop", "wuid": "5511888888888@s.whatsapp.net", "state": "open"}
CLOSED = {"instance": "shop", "state": "close", "statusReason": 401}
CONNECTING = {"instance": "shop", "state": "connecting"}
ADDED = {
    "id": "120363@g.us",
    "author": "5511@s.whatsapp.net",
    "participants": ["55@s"],
    "action": "add",
}
REMOVED = {**ADDED, "action": "remove"}
PROMOTED = {**ADDED, "action": "promote"}
TYPING = {
    "id": "5511@s.whatsapp.net",
    "presences": {"5511@s.whatsapp.net": {"lastKnownPresence": "composing"}},
}
ONLINE = {
    "id": "5511@s.whatsapp.net",
    "presences": {"5511@s.whatsapp.net": {"lastKnownPresence": "available"}},
}


def envelope(event: str, data: Any) -> dict[str, Any]:
    return {
        "id": "01a23797-8e80-7685-a630-9cc0eb4d1b9e",
        "event": event,
        "instance": "shop",
        "data": data,
        "date_time": "2026-12-02T13:30:00.123Z",
        "sender": "5511888888888@s.whatsapp.net",
        "server_url": "http://evolution:8080",
        "apikey": None,
    }


def test_every_row_is_a_catalog_event_once() -> None:
    wires = [row.wire for row in SHAPES]
    assert len(wires) == len(set(wires))
    assert set(wires) <= {event.wire for event in CATALOG}


def test_the_platforms_types_are_those_their_consumers_know() -> None:
    assert types_of("ryze") == (
        "message.exchange",
        "message.status",
        "call.update",
        "group.flow",
        "instance.state",
        "label.update",
    )
    assert set(types_of("vzaps")) == {
        "Message",
        "ReadReceipt",
        "Presence",
        "ChatPresence",
        "HistorySync",
        "Connected",
        "Disconnected",
        "GroupParticipantsAdd",
        "GroupParticipantsRemove",
    }
    assert wires_of("ryze", "message.exchange") == (
        "messages.upsert",
        "send.message",
        "messages.edited",
        "messages.delete",
    )
    assert wires_of("vzaps", "Connected") == ("connection.update",)


@pytest.mark.parametrize(
    ("event", "data", "vzaps"),
    [
        ("connection.update", OPEN, "Connected"),
        ("connection.update", CLOSED, "Disconnected"),
        ("connection.update", CONNECTING, None),
        ("group-participants.update", ADDED, "GroupParticipantsAdd"),
        ("group-participants.update", REMOVED, "GroupParticipantsRemove"),
        ("group-participants.update", PROMOTED, None),
        ("presence.update", TYPING, "ChatPresence"),
        ("presence.update", ONLINE, "Presence"),
        ("presence.update", {}, None),
        ("messages.upsert", UPSERT, "Message"),
        ("call", [{"id": "c1", "status": "offer"}], None),
        ("contacts.update", [], None),
    ],
)
def test_vzaps_types_follow_the_data(event: str, data: Any, vzaps: str | None) -> None:
    assert platform_type("vzaps", event, data) == vzaps


def test_a_ryze_payload_is_exact() -> None:
    got = shaped(
        envelope("messages.upsert", UPSERT), "ryze", token="tok-1", base_url="https://r.example"
    )
    assert got == {
        "event": "message.exchange",
        "data": UPSERT,
        "instanceData": {"baseUrl": "https://r.example", "instance": "shop", "token": "tok-1"},
        "id": "01a23797-8e80-7685-a630-9cc0eb4d1b9e",
    }
    assert shaped(envelope("presence.update", ONLINE), "ryze", token="", base_url="") is None


def test_a_vzaps_payload_is_exact() -> None:
    got = shaped(envelope("connection.update", OPEN), "vzaps", token="", base_url="")
    assert got == {
        "id": "01a23797-8e80-7685-a630-9cc0eb4d1b9e",
        "type": "Connected",
        "instance_id": "shop",
        "created_at": "2026-12-02T13:30:00.123Z",
        "data": OPEN,
    }


@pytest.mark.parametrize("row", SHAPES, ids=lambda row: row.wire)
def test_every_typed_event_has_a_shape_in_its_platforms(row: Any) -> None:
    formats: tuple[tuple[PayloadFormat, Any], ...] = (("ryze", row.ryze), ("vzaps", row.vzaps))
    for payload_format, kind in formats:
        samples = {
            "connection.update": OPEN,
            "group-participants.update": ADDED,
            "presence.update": TYPING,
        }
        data = samples.get(row.wire, UPSERT)
        got = shaped(envelope(row.wire, data), payload_format, token="t", base_url="b")
        if kind is None:
            assert got is None
            continue
        assert got is not None
        name = got["event"] if payload_format == "ryze" else got["type"]
        assert name == (kind.pick(data) if isinstance(kind, ByData) else kind)
        assert got["id"] == "01a23797-8e80-7685-a630-9cc0eb4d1b9e"
        assert got["data"] == data


def test_the_readme_shows_the_table_as_it_is() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
