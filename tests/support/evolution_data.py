"""Event data as Evolution 2.3 sends it (Baileys 7's objects through Evolution's reshaping), one
of each kind the other platforms' shapes are built from."""

from __future__ import annotations

from typing import Any

OWN = "5511888888888@s.whatsapp.net"  # the instance's own number: the envelope's sender
ANA = "5511999999999@s.whatsapp.net"
ANA_LID = "199789077627112@lid"
GROUP = "120363406289005073@g.us"
EVENT_ID = "01a23797-8e80-7685-a630-9cc0eb4d1b9e"
DATE_TIME = "2026-12-02T13:30:00.123Z"

TEXT = {
    "key": {
        "remoteJid": ANA,
        "remoteJidAlt": ANA_LID,
        "fromMe": False,
        "id": "3EB0C767D26A1D8F4F1D",
        "addressingMode": "pn",
    },
    "pushName": "Ana",
    "status": "DELIVERY_ACK",
    "message": {"conversation": "olá", "messageContextInfo": {"deviceListMetadataVersion": 2}},
    "messageType": "conversation",
    "messageTimestamp": 1796218198,
    "instanceId": "9f1c3d4e-0000-4000-8000-000000000001",
    "source": "android",
}
IMAGE = {
    "key": {"remoteJid": GROUP, "fromMe": False, "id": "3EB0AA", "participant": ANA},
    "pushName": "Ana",
    "message": {
        "imageMessage": {
            "url": "https://mmg.whatsapp.net/v/t62.7118-24/1.enc",
            "mimetype": "image/jpeg",
            "caption": "the shelf",
            "fileSha256": {"0": 1, "1": 2, "2": 3},
            "fileLength": "48213",
            "jpegThumbnail": "/9j/4AAQ",
            "contextInfo": {"stanzaId": "3EB0PREV", "participant": OWN},
        },
        "base64": "iVBORw0KGgo=",
    },
    "messageType": "imageMessage",
    "messageTimestamp": {"low": 1796218140, "high": 0, "unsigned": True},
    "source": "ios",
}
SENT = {
    "key": {"remoteJid": ANA, "fromMe": True, "id": "BAE5F00D"},
    "pushName": "",
    "status": "PENDING",
    "message": {
        "extendedTextMessage": {
            "text": "at 3pm",
            "contextInfo": {
                "stanzaId": "3EB0C767D26A1D8F4F1D",
                "quotedMessage": {"conversation": "olá"},
            },
        }
    },
    "messageType": "extendedTextMessage",
    "messageTimestamp": 1796218080,
}
REACTION = {
    "key": {"remoteJid": ANA, "fromMe": False, "id": "3EB0REACT"},
    "pushName": "Ana",
    "message": {
        "reactionMessage": {
            "key": {"remoteJid": ANA, "fromMe": True, "id": "BAE5F00D"},
            "text": "👍",
        }
    },
    "messageType": "reactionMessage",
    "messageTimestamp": 1796218170,
}
EDITED = {  # the protocol message Evolution sends as messages.edited
    "key": {"remoteJid": ANA, "fromMe": True, "id": "BAE5F00D"},
    "type": "MESSAGE_EDIT",
    "editedMessage": {"conversation": "at 4pm"},
    "timestampMs": "1796218190000",
}
DELETED = {"remoteJid": ANA, "fromMe": False, "id": "3EB0C767D26A1D8F4F1D"}
READ = {
    "keyId": "BAE5F00D",
    "remoteJid": ANA,
    "fromMe": True,
    "participant": None,
    "status": "READ",
    "pollUpdates": None,
    "instanceId": "9f1c3d4e-0000-4000-8000-000000000001",
}
DELIVERED = {**READ, "status": "DELIVERY_ACK"}
SERVER_ACK = {**READ, "status": "SERVER_ACK"}
READ_BY_ME = {**READ, "keyId": "3EB0C767D26A1D8F4F1D", "fromMe": False}
TYPING = {"id": ANA, "presences": {ANA: {"lastKnownPresence": "composing"}}}
RECORDING = {"id": GROUP, "presences": {ANA: {"lastKnownPresence": "recording"}}}
ONLINE = {"id": ANA, "presences": {ANA: {"lastKnownPresence": "available"}}}
AWAY = {"id": ANA, "presences": {ANA: {"lastKnownPresence": "unavailable", "lastSeen": 1796217000}}}
OPEN = {
    "instance": "shop",
    "wuid": OWN,
    "profileName": "Shop",
    "profilePictureUrl": None,
    "state": "open",
    "statusReason": 200,
}
CONNECTING = {"instance": "shop", "state": "connecting", "statusReason": 200}
LOGGED_OUT = {"instance": "shop", "state": "close", "statusReason": 401}
DROPPED = {"instance": "shop", "state": "close", "statusReason": 428}
QRCODE = {
    "qrcode": {
        "instance": "shop",
        "pairingCode": None,
        "code": "2@AbCdEf,ghIJ==",
        "base64": "data:image/png;base64,iVBORw0KGgo=",
    }
}
CALL = {
    "chatId": ANA,
    "from": ANA,
    "isGroup": False,
    "id": "CA11F00D",
    "date": "2026-12-02T13:29:59.000Z",
    "isVideo": True,
    "status": "offer",
    "offline": False,
}
ADDED = {  # Baileys 7 participants are objects
    "id": GROUP,
    "author": OWN,
    "participants": [{"id": ANA_LID, "phoneNumber": ANA, "admin": None}],
    "action": "add",
}
REMOVED = {"id": GROUP, "author": OWN, "participants": [ANA], "action": "remove"}
PROMOTED = {**REMOVED, "action": "promote"}
RENAMED = [{"id": GROUP, "subject": "Shop staff", "author": OWN}]
JOINED = [{"id": GROUP, "subject": "Shop staff", "owner": OWN, "participants": []}]
LABEL = {"id": "5", "name": "VIP", "color": 3, "deleted": False, "instance": "shop"}
LABELLED = {"instance": "shop", "type": "add", "chatId": ANA, "labelId": "5"}
HISTORY = {"messageCount": 120, "chatCount": 8, "contactCount": 30}

# One sample per catalog event a shape is made of, for tests that walk the table.
SAMPLES: dict[str, Any] = {
    "messages.upsert": TEXT,
    "send.message": SENT,
    "messages.edited": EDITED,
    "messages.delete": DELETED,
    "messages.update": READ,
    "send.message.update": DELIVERED,
    "presence.update": TYPING,
    "messages.set": HISTORY,
    "messaging-history.set": HISTORY,
    "chats.set": HISTORY,
    "contacts.set": HISTORY,
    "call": CALL,
    "groups.upsert": JOINED,
    "groups.update": RENAMED,
    "group-participants.update": ADDED,
    "connection.update": OPEN,
    "qrcode.updated": QRCODE,
    "logout.instance": {"instance": "shop"},
    "labels.edit": LABEL,
    "labels.association": LABELLED,
}


def envelope(event: str, data: Any) -> dict[str, Any]:
    """The router's envelope of ``data``, as a destination receives it in Evolution's shape."""
    return {
        "id": EVENT_ID,
        "event": event,
        "instance": "shop",
        "data": data,
        "date_time": DATE_TIME,
        "sender": OWN,
        "server_url": "http://evolution:8080",
        "apikey": None,
    }
