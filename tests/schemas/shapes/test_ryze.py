"""RyzeAPI's payloads, exact, built from events as Evolution 2.3 sends them: its live layout
for messages (``id``, ``direction``, ``chat``, ``sender`` on ``data``; the text in
``message.content``), its status and state words."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.shapes import shaped
from tests.support import evolution_data as evo
from tests.support.evolution_data import ANA, ANA_LID, DATE_TIME, GROUP, OWN

ANA_CHAT = {"jid": ANA, "type": "private"}


def ryze(event: str, data: Any) -> dict[str, Any] | None:
    return shaped(evo.envelope(event, data), "ryze", token="tok-1", base_url="https://r.example")


def test_the_wrapper_is_ryzeapis_with_the_event_id_beside_it() -> None:
    got = ryze("messages.upsert", evo.TEXT)
    assert got is not None
    assert got["event"] == "message.exchange"
    assert got["instanceData"] == {
        "baseUrl": "https://r.example",
        "instance": "shop",
        "token": "tok-1",
    }
    assert got["id"] == evo.EVENT_ID
    assert list(got) == ["event", "data", "instanceData", "id"]


@pytest.mark.parametrize(
    ("event", "data", "expected"),
    [
        pytest.param(
            "messages.upsert",
            evo.TEXT,
            {
                "id": "3EB0C767D26A1D8F4F1D",
                "direction": "incoming",
                "timestamp": "2026-12-02T13:29:58Z",
                "chat": {"jid": ANA, "lid": ANA_LID, "type": "private"},
                "sender": {"jid": ANA, "lid": ANA_LID, "name": "Ana"},
                "message": {"type": "text", "content": "olá"},
            },
            id="text received",
        ),
        pytest.param(
            "messages.upsert",
            evo.IMAGE,
            {
                "id": "3EB0AA",
                "direction": "incoming",
                "timestamp": "2026-12-02T13:29:00Z",
                "chat": {"jid": GROUP, "type": "group"},
                "sender": {"jid": ANA, "name": "Ana"},
                "message": {
                    "type": "image",
                    "content": "the shelf",
                    "media": {
                        "type": "image",
                        "mimetype": "image/jpeg",
                        "caption": "the shelf",
                        "url": "https://mmg.whatsapp.net/v/t62.7118-24/1.enc",
                        "base64": "iVBORw0KGgo=",
                    },
                },
            },
            id="image in a group",
        ),
        pytest.param(
            "send.message",
            evo.SENT,
            {
                "id": "BAE5F00D",
                "direction": "outgoing",
                "timestamp": "2026-12-02T13:28:00Z",
                "chat": ANA_CHAT,
                "sender": {"jid": OWN},
                "message": {
                    "type": "text",
                    "content": "at 3pm",
                    "reply": {"message_id": "3EB0C767D26A1D8F4F1D", "text": "olá"},
                },
            },
            id="reply sent",
        ),
        pytest.param(
            "messages.upsert",
            evo.REACTION,
            {
                "id": "3EB0REACT",
                "direction": "incoming",
                "timestamp": "2026-12-02T13:29:30Z",
                "chat": ANA_CHAT,
                "sender": {"jid": ANA, "name": "Ana"},
                "message": {
                    "type": "reaction",
                    "content": "👍",
                    "reaction": {"text": "👍", "message_id": "BAE5F00D"},
                },
            },
            id="reaction",
        ),
        pytest.param(
            "messages.edited",
            evo.EDITED,
            {
                "id": "BAE5F00D",
                "direction": "outgoing",
                "timestamp": "2026-12-02T13:29:50Z",
                "chat": ANA_CHAT,
                "sender": {"jid": OWN},
                "message": {
                    "type": "message_edit",
                    "content": "at 4pm",
                    "edit": {"original_id": "BAE5F00D", "text": "at 4pm"},
                },
            },
            id="edit",
        ),
        pytest.param(
            "messages.delete",
            evo.DELETED,
            {
                "id": "3EB0C767D26A1D8F4F1D",
                "direction": "incoming",
                "timestamp": DATE_TIME,
                "chat": ANA_CHAT,
                "sender": {"jid": ANA},
                "message": {"type": "message_revoke"},
            },
            id="revoke",
        ),
    ],
)
def test_message_exchange(event: str, data: Any, expected: dict[str, Any]) -> None:
    got = ryze(event, data)
    assert got is not None
    assert got["event"] == "message.exchange"
    assert got["data"] == expected


@pytest.mark.parametrize(
    ("data", "status", "recipient"),
    [
        (evo.READ, "read", ANA),  # ours, read by Ana
        (evo.DELIVERED, "delivered", ANA),
        (evo.READ_BY_ME, "read", OWN),  # hers, read on another of our devices
    ],
)
def test_message_status(data: Any, status: str, recipient: str) -> None:
    got = ryze("messages.update", data)
    assert got is not None
    assert got["event"] == "message.status"
    assert got["data"] == {
        "messageIds": [data["keyId"]],
        "status": status,
        "timestamp": DATE_TIME,
        "chat": ANA_CHAT,
        "recipient": recipient,
    }
    assert ryze("messages.update", evo.SERVER_ACK) is None


def test_a_group_status_names_the_messages_sender() -> None:
    got = ryze("send.message.update", {**evo.READ, "remoteJid": GROUP, "participant": ANA})
    assert got is not None
    assert got["data"]["recipient"] == ANA
    assert got["data"]["messageSender"] == OWN


@pytest.mark.parametrize(
    ("event", "data", "state", "extra"),
    [
        ("connection.update", evo.OPEN, "connected", {}),
        ("connection.update", evo.CONNECTING, "connecting", {}),
        ("connection.update", evo.LOGGED_OUT, "logged_out", {}),
        ("connection.update", evo.DROPPED, "disconnected", {}),
        ("logout.instance", {"instance": "shop"}, "logged_out", {}),
        (
            "qrcode.updated",
            evo.QRCODE,
            "qr_ready",
            {"code": "2@AbCdEf,ghIJ==", "base64": "data:image/png;base64,iVBORw0KGgo="},
        ),
    ],
)
def test_instance_state(event: str, data: Any, state: str, extra: dict[str, Any]) -> None:
    got = ryze(event, data)
    assert got is not None
    assert got["event"] == "instance.state"
    assert got["data"] == {
        "instance": "shop",
        "state": state,
        "jid": OWN,
        "timestamp": DATE_TIME,
        **extra,
    }


def test_call_update() -> None:
    got = ryze("call", evo.CALL)
    assert got is not None
    assert got["data"] == {
        "id": "CA11F00D",
        "type": "offer",
        "from": ANA,
        "chat": ANA,
        "isVideo": True,
        "isGroup": False,
        "timestamp": "2026-12-02T13:29:59.000Z",
    }
    ended = ryze("call", [{**evo.CALL, "status": "terminate"}])  # older releases: a list
    assert ended is not None
    assert ended["data"]["type"] == "terminated"


@pytest.mark.parametrize(
    ("event", "data", "expected"),
    [
        (
            "group-participants.update",
            evo.ADDED,
            {
                "groupJid": GROUP,
                "type": "joined",
                "participants": [{"jid": ANA, "lid": ANA_LID}],
                "author": OWN,
                "timestamp": DATE_TIME,
            },
        ),
        (
            "group-participants.update",
            evo.PROMOTED,
            {
                "groupJid": GROUP,
                "type": "promoted",
                "participants": [{"jid": ANA}],
                "author": OWN,
                "timestamp": DATE_TIME,
            },
        ),
        (
            "groups.update",
            evo.RENAMED,
            {
                "groupJid": GROUP,
                "type": "name",
                "participants": [],
                "groupName": "Shop staff",
                "timestamp": DATE_TIME,
            },
        ),
        (
            "groups.upsert",
            evo.JOINED,
            {
                "groupJid": GROUP,
                "type": "joined",
                "participants": [{"jid": OWN}],
                "groupName": "Shop staff",
                "timestamp": DATE_TIME,
            },
        ),
    ],
)
def test_group_flow(event: str, data: Any, expected: dict[str, Any]) -> None:
    got = ryze(event, data)
    assert got is not None
    assert got["event"] == "group.flow"
    assert got["data"] == expected


def test_label_update() -> None:
    edited, labelled = ryze("labels.edit", evo.LABEL), ryze("labels.association", evo.LABELLED)
    assert edited is not None
    assert labelled is not None
    assert edited["data"] == {
        "type": "edit",
        "labelId": "5",
        "name": "VIP",
        "color": 3,
        "deleted": False,
    }
    assert labelled["data"] == {
        "type": "chat",
        "labelId": "5",
        "chatJid": ANA,
        "action": "add",
        "labeled": True,
    }


def test_events_without_a_ryzeapi_type_are_not_shaped() -> None:
    assert ryze("presence.update", evo.TYPING) is None
    assert ryze("contacts.upsert", []) is None
