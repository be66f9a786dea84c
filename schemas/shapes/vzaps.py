"""The ``data`` of VZaps' event types, built from Evolution's.

VZaps' events are wuzapi's: ``data`` is ``{"type", "event", ...}`` where ``event`` is the
whatsmeow event as Go marshals it and the rest are a few fields of VZaps' own (a receipt's
``state``, a presence's ``state``, a media message's ``base64``, ``mimeType``, ``fileName``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from schemas.shapes import whatsmeow
from schemas.shapes.baileys import content_of, iso_time, key_of, obj, seconds, sent_at, text
from schemas.shapes.table import Build


def _own(envelope: Mapping[str, Any]) -> str:
    return str(envelope.get("sender") or "")


def _at(envelope: Mapping[str, Any]) -> str:
    return str(envelope.get("date_time") or whatsmeow.NO_TIME)


def message(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    body = obj(data)
    at = sent_at(body, _at(envelope))
    edit = wire == "messages.edited"
    held = obj(body.get("message"))
    media = content_of(held)
    found: dict[str, Any] = {
        "type": "Message",
        "event": whatsmeow.message_event(data, _own(envelope), at, edit=edit, content=media),
    }
    if media.media and text(held.get("base64")):
        found["base64"] = held["base64"]
        found["mimeType"] = text(media.body.get("mimetype")) or ""
        found["fileName"] = text(media.body.get("fileName")) or ""
    if text(held.get("mediaUrl")):
        found["media_url"] = held["mediaUrl"]
    return found


def read_receipt(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    read = obj(data).get("status") == "READ"
    from_me = key_of(data).from_me
    # Our message read by them is "Read"; theirs read by us on another device, "ReadSelf".
    state, kind = ("Read", "read") if from_me else ("ReadSelf", "read-self")
    if not read:
        state, kind = "Delivered", ""
    return {
        "type": "ReadReceipt",
        "state": state,
        "event": whatsmeow.receipt_event(data, _own(envelope), _at(envelope), kind),
    }


def _presences(data: Any) -> tuple[str, str, dict[str, Any]]:
    """The chat, the first person in it, and that person's presence."""
    body = obj(data)
    for person, presence in obj(body.get("presences")).items():
        return str(body.get("id") or person), person, obj(presence)
    return str(body.get("id") or ""), "", {}


def presence(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    _, person, state = _presences(data)
    away = state.get("lastKnownPresence") == "unavailable"
    seen = seconds(state.get("lastSeen"))
    return {
        "type": "Presence",
        "state": "offline" if away else "online",
        "event": {
            "From": person,
            "Unavailable": away,
            "LastSeen": whatsmeow.NO_TIME if seen is None else iso_time(seen, whatsmeow.NO_TIME),
        },
    }


def chat_presence(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    chat, person, state = _presences(data)
    given = state.get("lastKnownPresence")
    group = chat.endswith("@g.us")
    key = key_of({"remoteJid": chat, "participant": person if group else ""})
    return {
        "type": "ChatPresence",
        "event": {
            **whatsmeow.source(key, _own(envelope)),
            "Sender": person,
            "State": "paused" if given == "paused" else "composing",
            "Media": "audio" if given == "recording" else "",
        },
    }


def history_sync(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    # Evolution sends what it stored from a history sync, not WhatsApp's HistorySync
    # protobuf: it rides as it came, under whatsmeow's field name for the sync's data.
    return {"type": "HistorySync", "event": {"Data": data, "Source": wire}}


def connection(kind: str) -> Build:
    def build(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": kind, "event": {}}

    return build


def _jids(values: Any) -> list[str]:
    found = []
    for value in values if isinstance(values, list) else []:
        jid = value if isinstance(value, str) else obj(value).get("id")
        if isinstance(jid, str) and jid:
            found.append(jid)
    return found


def participants(kind: str, field: str) -> Build:
    def build(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
        body = obj(data)
        changes: dict[str, Any] = {"Join": None, "Leave": None, "Promote": None, "Demote": None}
        changes[field] = _jids(body.get("participants"))
        return {
            "type": kind,
            "event": {
                "JID": text(body.get("id")) or "",
                "Notify": "",
                "Sender": text(body.get("author")) or None,
                "SenderPN": text(body.get("authorPn")) or None,
                "Timestamp": _at(envelope),
                **changes,
            },
        }

    return build


BUILDERS: Final[dict[str, Build]] = {
    "Message": message,
    "ReadReceipt": read_receipt,
    "Presence": presence,
    "ChatPresence": chat_presence,
    "HistorySync": history_sync,
    "Connected": connection("Connected"),
    "Disconnected": connection("Disconnected"),
    "GroupParticipantsAdd": participants("GroupParticipantsAdd", "Join"),
    "GroupParticipantsRemove": participants("GroupParticipantsRemove", "Leave"),
}
