"""VZaps' payloads, exact, built from events as Evolution 2.3 sends them: wuzapi's ``data``
(``type``, ``event`` as whatsmeow marshals it, VZaps' own ``state`` and media fields)."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.shapes import shaped
from tests.support import evolution_data as evo
from tests.support.evolution_data import ANA, ANA_LID, DATE_TIME, GROUP, OWN


def vzaps(event: str, data: Any) -> dict[str, Any]:
    got = shaped(evo.envelope(event, data), "vzaps", token="", base_url="")
    assert got is not None
    return got


def source(chat: str, sender: str, *, me: bool = False, **alt: str) -> dict[str, Any]:
    return {
        "Chat": chat,
        "Sender": sender,
        "IsFromMe": me,
        "IsGroup": chat.endswith("@g.us"),
        "AddressingMode": alt.get("mode", ""),
        "SenderAlt": alt.get("alt", ""),
        "RecipientAlt": alt.get("recipient", ""),
        "BroadcastListOwner": "",
        "BroadcastRecipients": None,
    }


def test_the_wrapper_is_vzaps_with_the_event_id() -> None:
    got = vzaps("connection.update", evo.OPEN)
    assert got == {
        "id": evo.EVENT_ID,
        "type": "Connected",
        "instance_id": "shop",
        "created_at": DATE_TIME,
        "data": {"type": "Connected", "event": {}},
    }
    assert vzaps("connection.update", evo.LOGGED_OUT)["data"] == {
        "type": "Disconnected",
        "event": {},
    }


def test_a_received_text_is_whatsmeows_message_event() -> None:
    assert vzaps("messages.upsert", evo.TEXT)["data"] == {
        "type": "Message",
        "event": {
            "Info": {
                **source(ANA, ANA, mode="pn", alt=ANA_LID),
                "ID": "3EB0C767D26A1D8F4F1D",
                "ServerID": 0,
                "Type": "text",
                "PushName": "Ana",
                "Timestamp": "2026-12-02T13:29:58Z",
                "Category": "",
                "Multicast": False,
                "MediaType": "",
                "Edit": "",
            },
            "Message": {"conversation": "olá"},
            "IsEphemeral": False,
            "IsViewOnce": False,
            "IsDocumentWithCaption": False,
            "IsEdit": False,
            "RawMessage": {"conversation": "olá"},
        },
    }


def test_an_image_has_whatsmeows_field_names_and_vzaps_media_fields() -> None:
    data = vzaps("messages.upsert", evo.IMAGE)["data"]
    info = data["event"]["Info"]
    assert info["Chat"] == GROUP
    assert info["Sender"] == ANA
    assert info["IsGroup"] is True
    assert (info["Type"], info["MediaType"]) == ("media", "image")
    assert info["Timestamp"] == "2026-12-02T13:29:00Z"  # from Baileys' Long
    assert data["event"]["Message"] == {
        "imageMessage": {
            "URL": "https://mmg.whatsapp.net/v/t62.7118-24/1.enc",
            "mimetype": "image/jpeg",
            "caption": "the shelf",
            "fileSHA256": "AQID",
            "fileLength": "48213",
            "JPEGThumbnail": "/9j/4AAQ",
            "contextInfo": {"stanzaID": "3EB0PREV", "participant": OWN},
        }
    }
    assert (data["base64"], data["mimeType"], data["fileName"]) == (
        "iVBORw0KGgo=",
        "image/jpeg",
        "",
    )


def test_a_sent_message_is_from_me_and_an_edit_is_marked() -> None:
    sent = vzaps("send.message", evo.SENT)["data"]["event"]
    assert sent["Info"] | source(ANA, OWN, me=True) == sent["Info"]
    assert sent["Message"]["extendedTextMessage"]["contextInfo"]["stanzaID"] == (
        "3EB0C767D26A1D8F4F1D"
    )
    edited = vzaps("messages.edited", evo.EDITED)["data"]["event"]
    assert (edited["Info"]["Edit"], edited["IsEdit"], edited["Info"]["ID"]) == (
        "1",
        True,
        "BAE5F00D",
    )
    assert edited["Message"]["protocolMessage"]["editedMessage"] == {"conversation": "at 4pm"}


@pytest.mark.parametrize(
    ("data", "state", "kind", "reader"),
    [
        (evo.READ, "Read", "read", source(ANA, ANA)),
        (evo.DELIVERED, "Delivered", "", source(ANA, ANA)),
        (evo.READ_BY_ME, "ReadSelf", "read-self", source(ANA, OWN, me=True)),
    ],
)
def test_read_receipts(data: Any, state: str, kind: str, reader: dict[str, Any]) -> None:
    assert vzaps("messages.update", data)["data"] == {
        "type": "ReadReceipt",
        "state": state,
        "event": {
            **reader,
            "MessageIDs": [data["keyId"]],
            "Timestamp": DATE_TIME,
            "Type": kind,
            "MessageSender": "",
        },
    }


def test_presence_and_chat_presence() -> None:
    assert vzaps("presence.update", evo.AWAY)["data"] == {
        "type": "Presence",
        "state": "offline",
        "event": {"From": ANA, "Unavailable": True, "LastSeen": "2026-12-02T13:10:00Z"},
    }
    online = vzaps("presence.update", evo.ONLINE)["data"]
    assert online["state"] == "online"
    assert online["event"]["LastSeen"] == "0001-01-01T00:00:00Z"
    assert vzaps("presence.update", evo.RECORDING)["data"] == {
        "type": "ChatPresence",
        "event": {**source(GROUP, ANA), "State": "composing", "Media": "audio"},
    }
    typing = vzaps("presence.update", evo.TYPING)["data"]["event"]
    assert (typing["State"], typing["Media"], typing["Chat"]) == ("composing", "", ANA)


@pytest.mark.parametrize(
    ("data", "kind", "field", "jids"),
    [
        (evo.ADDED, "GroupParticipantsAdd", "Join", [ANA_LID]),
        (evo.REMOVED, "GroupParticipantsRemove", "Leave", [ANA]),
    ],
)
def test_group_participants(data: Any, kind: str, field: str, jids: list[str]) -> None:
    changes: dict[str, Any] = {"Join": None, "Leave": None, "Promote": None, "Demote": None}
    assert vzaps("group-participants.update", data)["data"] == {
        "type": kind,
        "event": {
            "JID": GROUP,
            "Notify": "",
            "Sender": OWN,
            "SenderPN": None,
            "Timestamp": DATE_TIME,
            **changes,
            field: jids,
        },
    }


def test_a_history_sync_carries_evolutions_data() -> None:
    assert vzaps("messaging-history.set", evo.HISTORY)["data"] == {
        "type": "HistorySync",
        "event": {"Data": evo.HISTORY, "Source": "messaging-history.set"},
    }
