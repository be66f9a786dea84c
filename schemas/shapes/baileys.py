"""Reading Evolution's event data: Baileys' objects as Evolution 2.3 reshapes them.

Every reader takes any JSON value and never raises: a field of another type reads as absent, so
an odd event is shaped with less in it rather than not at all.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

# Evolution's own additions to a message object, not WhatsApp's.
EVOLUTION_FIELDS: Final = frozenset({"base64", "mediaUrl", "messageContextInfo"})
# Containers whose ``message`` is the content; Evolution leaves most of them in place.
WRAPPERS: Final = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
_WRAPPER_SET: Final = frozenset(WRAPPERS)
VIEW_ONCE: Final = frozenset({"viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension"})
MEDIA: Final = {
    "imageMessage": "image",
    "videoMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
    "ptvMessage": "ptv",
}
TEXT: Final = frozenset({"conversation", "extendedTextMessage"})


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def seconds(value: Any) -> int | None:
    """A Baileys timestamp: a number, a numeric string, or a protobuf Long ``{low, high}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    low = value.get("low") if isinstance(value, dict) else None
    if isinstance(low, int):
        high = value.get("high")
        return (high if isinstance(high, int) else 0) * 2**32 + low % 2**32
    return None


def iso_time(value: Any, default: str) -> str:
    """A Baileys timestamp as RFC 3339 in UTC, or ``default`` when there is none."""
    stamp = seconds(value)
    if stamp is None or not 0 <= stamp < 253402300800:  # before year 10000
        return default
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def as_bytes(value: Any) -> str | None:
    """Evolution's JSON of a byte array (``{"0": 12, "1": 34, ...}``) as base64."""
    if not isinstance(value, dict) or not value:
        return None
    try:
        raw = bytes(value[str(i)] for i in range(len(value)))
    except (KeyError, TypeError, ValueError):
        return None
    return base64.b64encode(raw).decode()


def sent_at(body: dict[str, Any], default: str) -> str:
    """When a message was sent: its ``messageTimestamp`` (seconds), or a protocol message's
    ``timestampMs``, or ``default``."""
    stamp = seconds(body.get("messageTimestamp"))
    if stamp is None:
        millis = seconds(body.get("timestampMs"))
        stamp = None if millis is None else millis // 1000
    return iso_time(stamp, default)


def chat_type(jid: str) -> str:
    if jid.endswith("@g.us"):
        return "group"
    return "newsletter" if jid.endswith("@newsletter") else "private"


@dataclass(frozen=True, slots=True)
class Key:
    """A message's key: its chat, who sent it, its id, and the other address (phone number
    or LID) of each, as Baileys 7 gives them."""

    chat: str
    from_me: bool
    id: str
    participant: str
    chat_alt: str
    participant_alt: str
    addressing: str

    @property
    def group(self) -> bool:
        return self.chat.endswith("@g.us")

    def sender(self, own: str) -> str:
        if self.from_me:
            return own
        return self.participant if self.group else self.chat

    def sender_alt(self) -> str:
        """The sender's other address; Baileys does not give the instance's own."""
        if self.from_me:
            return ""
        return self.participant_alt if self.group else self.chat_alt

    def recipient_alt(self) -> str:
        """The other address of the person a direct message of ours went to."""
        return self.chat_alt if self.from_me and not self.group else ""


def key_of(data: Any) -> Key:
    """The key of a message event: ``data.key``, or ``data`` itself when it is the key (as in
    ``messages.delete``), or the flat fields of ``messages.update``."""
    body = obj(data)
    key = obj(body.get("key")) or body
    return Key(
        chat=text(key.get("remoteJid")) or "",
        from_me=key.get("fromMe") is True,
        id=text(key.get("id")) or text(body.get("keyId")) or "",
        participant=text(key.get("participant")) or text(body.get("participant")) or "",
        chat_alt=text(key.get("remoteJidAlt")) or "",
        participant_alt=text(key.get("participantAlt")) or "",
        addressing=text(key.get("addressingMode")) or "",
    )


@dataclass(frozen=True, slots=True)
class Content:
    """What a message holds once its wrappers are opened: the content's field name and value,
    and the wrappers it came in."""

    kind: str
    value: Any
    wrappers: frozenset[str]

    @property
    def body(self) -> dict[str, Any]:
        return obj(self.value)

    @property
    def media(self) -> str | None:
        """The media kind (``image``, ``ptt``...), None for anything else."""
        kind = MEDIA.get(self.kind)
        if kind == "audio" and self.body.get("ptt") is True:
            return "ptt"
        return kind

    @property
    def text(self) -> str | None:
        """The text a person reads: the conversation, the text or the caption."""
        if self.kind == "conversation":
            return text(self.value)
        return text(self.body.get("text")) or text(self.body.get("caption"))


def content_of(message: Any) -> Content:
    current = obj(message)
    wrappers: set[str] = set()
    for _ in range(len(WRAPPERS)):
        # A message has a key or two: looking through its keys beats asking for each wrapper.
        wrapper = next(
            (k for k in current if k in _WRAPPER_SET and isinstance(current[k], dict)), None
        )
        if wrapper is None:
            break
        wrappers.add(wrapper)
        current = obj(current[wrapper].get("message"))
    kind = next((k for k in current if k not in EVOLUTION_FIELDS), "")
    return Content(kind, current.get(kind), frozenset(wrappers))
