"""The ``data`` of RyzeAPI's six event types, built from Evolution's.

RyzeAPI documents one layout for ``message.exchange`` and sends another: its live events carry
``id``, ``direction``, ``timestamp``, ``chat`` and ``sender`` on ``data``, beside a ``message``
whose ``content`` is the text, and the consumers written against RyzeAPI read that. This is the
layout built here. Statuses and states use RyzeAPI's words, which are whatsmeow's events in
snake case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from schemas.shapes.baileys import (
    TEXT,
    Key,
    chat_type,
    content_of,
    key_of,
    obj,
    sent_at,
    text,
)
from schemas.shapes.table import Build

STATUSES: Final = {
    "DELIVERY_ACK": "delivered",
    "READ": "read",
    "PLAYED": "played",
    "ERROR": "server_error",
}
CALLS: Final = {
    "offer": "offer",
    "ringing": "offer",
    "accept": "accepted",
    "reject": "rejected",
    "terminate": "terminated",
    "timeout": "terminated",
    "relaylatency": "latency",
}
GROUP_ACTIONS: Final = {
    "add": "joined",
    "remove": "left",
    "promote": "promoted",
    "demote": "demoted",
    "modify": "modified",
}


def _address(jid: str, alt: str) -> dict[str, Any]:
    """A JID and, when Baileys knows both, the LID beside the phone number."""
    if jid.endswith("@lid") and alt:
        return {"jid": alt, "lid": jid}
    return {"jid": jid, "lid": alt} if alt.endswith("@lid") else {"jid": jid}


def _chat(key: Key) -> dict[str, Any]:
    return {**_address(key.chat, key.chat_alt), "type": chat_type(key.chat)}


def _media(content_kind: str, body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    media: dict[str, Any] = {"type": content_kind}
    for field, name in (
        ("mimetype", "mimetype"),
        ("caption", "caption"),
        ("fileName", "fileName"),
        ("url", "url"),
    ):
        if text(body.get(field)):
            media[name] = body[field]
    if text(message.get("mediaUrl")):
        media["s3Url"] = message["mediaUrl"]
    if text(message.get("base64")):
        media["base64"] = message["base64"]
    return media


def message_exchange(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    body = obj(data)
    key = key_of(data)
    own = str(envelope.get("sender") or "")
    at = str(envelope.get("date_time") or "")
    message = obj(body.get("message"))
    content = content_of(message)
    sent: dict[str, Any] = {}
    if wire == "messages.delete":
        sent = {"type": "message_revoke"}
    elif wire == "messages.edited":
        edited = content_of(body.get("editedMessage"))
        sent = {
            "type": "message_edit",
            "content": edited.text,
            "edit": {"original_id": key.id, "text": edited.text},
        }
    elif content.kind in TEXT:
        sent = {"type": "text", "content": content.text}
        quoted = obj(content.body.get("contextInfo"))
        if text(quoted.get("stanzaId")):
            reply = content_of(quoted.get("quotedMessage")).text
            sent["reply"] = {"message_id": quoted["stanzaId"], "text": reply}
    elif content.kind == "reactionMessage":
        reacted = key_of(content.body)
        emoji = text(content.body.get("text"))
        sent = {
            "type": "reaction",
            "content": emoji,
            "reaction": {"text": emoji, "message_id": reacted.id},
        }
    elif content.media:
        sent = {"type": content.media, "content": content.text}
        sent["media"] = _media(content.media, content.body, message)
    else:
        sent = {"type": content.kind.removesuffix("Message") or "unknown", "content": content.text}
    sender = _address(key.sender(own), key.sender_alt())
    name = text(body.get("pushName"))
    return {
        "id": key.id,
        "direction": "outgoing" if key.from_me else "incoming",
        "timestamp": sent_at(body, at),
        "chat": _chat(key),
        "sender": {**sender, "name": name} if name and not key.from_me else sender,
        "message": sent,
    }


def message_status(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    body = obj(data)
    key = key_of(data)
    own = str(envelope.get("sender") or "")
    status = body.get("status")
    found: dict[str, Any] = {
        "messageIds": [key.id] if key.id else [],
        "status": STATUSES.get(status, "unknown") if isinstance(status, str) else "unknown",
        "timestamp": str(envelope.get("date_time") or ""),
        "chat": _chat(key),
        "recipient": (key.participant or key.chat) if key.from_me else own,
    }
    if key.group:
        found["messageSender"] = own if key.from_me else key.participant
    return found


def instance_state(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    body = obj(data)
    state = "logged_out"
    extra: dict[str, Any] = {}
    if wire == "qrcode.updated":
        qrcode = obj(body.get("qrcode"))
        state = "qr_ready"
        extra = {k: qrcode[k] for k in ("code", "base64", "pairingCode") if text(qrcode.get(k))}
    elif wire == "connection.update":
        given = body.get("state")
        if given == "open":
            state = "connected"
        elif given == "connecting":
            state = "connecting"
        elif body.get("statusReason") != 401:
            state = "disconnected"
    jid = text(body.get("wuid")) or str(envelope.get("sender") or "")
    return {
        "instance": envelope.get("instance"),
        "state": state,
        "jid": jid,
        "timestamp": str(envelope.get("date_time") or ""),
        **extra,
    }


def _first(data: Any) -> dict[str, Any]:
    """Evolution sends some events as a list of one (calls, groups): the first."""
    return obj(data[0]) if isinstance(data, list) and data else obj(data)


def call_update(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    call = _first(data)
    status = call.get("status")
    return {
        "id": text(call.get("id")),
        "type": CALLS.get(status, "notification") if isinstance(status, str) else "notification",
        "from": text(call.get("from")),
        "chat": text(call.get("chatId")) or text(call.get("from")),
        "isVideo": call.get("isVideo") is True,
        "isGroup": call.get("isGroup") is True,
        "timestamp": text(call.get("date")) or str(envelope.get("date_time") or ""),
    }


def _participants(values: Any) -> list[dict[str, Any]]:
    found = []
    for value in values if isinstance(values, list) else []:
        if isinstance(value, str):
            found.append({"jid": value})
        elif isinstance(value, dict) and text(value.get("id")):
            pn = text(value.get("phoneNumber")) or ""
            entry = _address(value["id"], pn or text(value.get("lid")) or "")
            if text(value.get("name")):
                entry["name"] = value["name"]
            found.append(entry)
    return found


def group_flow(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    at = str(envelope.get("date_time") or "")
    if wire == "group-participants.update":
        body = obj(data)
        action = body.get("action")
        kind = GROUP_ACTIONS.get(action, "modified") if isinstance(action, str) else "modified"
        return {
            "groupJid": text(body.get("id")),
            "type": kind,
            "participants": _participants(body.get("participants")),
            "author": text(body.get("author")),
            "timestamp": at,
        }
    group = _first(data)
    if wire == "groups.upsert":
        kind, participants = "joined", [{"jid": str(envelope.get("sender") or "")}]
    else:
        changed = ("subject", "name"), ("desc", "topic"), ("announce", "announce")
        kind = next((name for field, name in changed if field in group), "modified")
        participants = []
    flow: dict[str, Any] = {
        "groupJid": text(group.get("id")),
        "type": kind,
        "participants": participants,
        "groupName": text(group.get("subject")),
        "timestamp": at,
    }
    if "desc" in group:
        flow["topic"] = text(group.get("desc"))
    if "announce" in group:
        flow["announce"] = group.get("announce") is True
    return flow


def label_update(wire: str, data: Any, envelope: Mapping[str, Any]) -> dict[str, Any]:
    body = obj(data)
    if wire == "labels.association":
        action = "add" if body.get("type") == "add" else "remove"
        return {
            "type": "chat",
            "labelId": body.get("labelId"),
            "chatJid": text(body.get("chatId")),
            "action": action,
            "labeled": action == "add",
        }
    return {
        "type": "edit",
        "labelId": body.get("id"),
        "name": text(body.get("name")),
        "color": body.get("color"),
        "deleted": body.get("deleted") is True,
    }


BUILDERS: Final[dict[str, Build]] = {
    "message.exchange": message_exchange,
    "message.status": message_status,
    "instance.state": instance_state,
    "call.update": call_update,
    "group.flow": group_flow,
    "label.update": label_update,
}
