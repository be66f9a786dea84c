"""One event in the payload shapes of other platforms' consumers, beside the catalog.

A consumer written for RyzeAPI's Events module reads ``{"event": "message.exchange", "data",
"instanceData": {"baseUrl", "instance", "token"}}`` with six event types; one written for VZaps'
realtime SDK reads ``{"id", "type", "instance_id", "created_at", "data"}`` with types such as
``Message`` or ``Connected``. ``SHAPES`` gives, for each catalog event, its type in each
platform, where the platform has one; some depend on the event's data (a ``connection.update``
whose state is ``open`` is VZaps' ``Connected``). ``data`` itself is Evolution's, as received:
the shapes change the wrapper and the type, not the WhatsApp payload inside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

PayloadFormat = Literal["evolution", "ryze", "vzaps"]
FORMATS: Final[tuple[PayloadFormat, ...]] = ("evolution", "ryze", "vzaps")


@dataclass(frozen=True, slots=True)
class ByData:
    """A type that depends on the event's data; ``rule`` says how, for the documentation."""

    rule: str
    pick: Callable[[Any], str | None]
    types: tuple[str, ...]


Kind = str | ByData | None


def _field(name: str, types: Mapping[str, str]) -> ByData:
    def pick(data: Any) -> str | None:
        value = data.get(name) if isinstance(data, dict) else None
        return types.get(value) if isinstance(value, str) else None

    choices = ", ".join(f"`{value}`: `{kind}`" for value, kind in types.items())
    return ByData(f"by `{name}`: {choices}; other values not sent", pick, tuple(types.values()))


TYPING: Final = frozenset({"composing", "recording", "paused"})


def _presence(data: Any) -> str | None:
    presences = data.get("presences") if isinstance(data, dict) else None
    if not isinstance(presences, dict) or not presences:
        return None
    states = {p.get("lastKnownPresence") for p in presences.values() if isinstance(p, dict)}
    return "ChatPresence" if states & TYPING else "Presence"


PRESENCE = ByData(
    "`ChatPresence` when a `lastKnownPresence` is `composing`, `recording` or `paused`, "
    "else `Presence`",
    _presence,
    ("Presence", "ChatPresence"),
)


@dataclass(frozen=True, slots=True)
class Row:
    wire: str
    ryze: str | None
    vzaps: Kind

    def kind(self, payload_format: PayloadFormat) -> Kind:
        if payload_format == "evolution":
            return self.wire
        return self.ryze if payload_format == "ryze" else self.vzaps


# Catalog events absent here have no type in either platform.
SHAPES: Final[tuple[Row, ...]] = (
    Row("messages.upsert", "message.exchange", "Message"),
    Row("send.message", "message.exchange", "Message"),
    Row("messages.edited", "message.exchange", "Message"),
    Row("messages.delete", "message.exchange", None),
    Row("messages.update", "message.status", "ReadReceipt"),
    Row("send.message.update", "message.status", "ReadReceipt"),
    Row("presence.update", None, PRESENCE),
    Row("messages.set", None, "HistorySync"),
    Row("messaging-history.set", None, "HistorySync"),
    Row("chats.set", None, "HistorySync"),
    Row("contacts.set", None, "HistorySync"),
    Row("call", "call.update", None),
    Row("groups.upsert", "group.flow", None),
    Row("groups.update", "group.flow", None),
    Row(
        "group-participants.update",
        "group.flow",
        _field("action", {"add": "GroupParticipantsAdd", "remove": "GroupParticipantsRemove"}),
    ),
    Row(
        "connection.update",
        "instance.state",
        _field("state", {"open": "Connected", "close": "Disconnected"}),
    ),
    Row("qrcode.updated", "instance.state", None),
    Row("logout.instance", "instance.state", None),
    Row("labels.edit", "label.update", None),
    Row("labels.association", "label.update", None),
)

_BY_WIRE: Final = {row.wire: row for row in SHAPES}


def kind_of(payload_format: PayloadFormat, wire: str) -> Kind:
    if payload_format == "evolution":
        return wire
    row = _BY_WIRE.get(wire)
    return None if row is None else row.kind(payload_format)


def platform_type(payload_format: PayloadFormat, wire: str, data: Any) -> str | None:
    """The event's type in ``payload_format``, or None when that platform has none for it."""
    kind = kind_of(payload_format, wire)
    return kind.pick(data) if isinstance(kind, ByData) else kind


def names_of(kind: Kind) -> tuple[str, ...]:
    """Every type ``kind`` can be."""
    if isinstance(kind, ByData):
        return kind.types
    return (kind,) if kind else ()


def types_of(payload_format: PayloadFormat) -> tuple[str, ...]:
    """Every type of a platform, in the table's order."""
    return tuple(dict.fromkeys(n for row in SHAPES for n in names_of(row.kind(payload_format))))


def wires_of(payload_format: PayloadFormat, platform: str) -> tuple[str, ...]:
    """The catalog events that can be ``platform`` in ``payload_format``."""
    return tuple(row.wire for row in SHAPES if platform in names_of(row.kind(payload_format)))


def shaped(
    envelope: Mapping[str, Any], payload_format: PayloadFormat, *, token: str, base_url: str
) -> dict[str, Any] | None:
    """An envelope (as its JSON object) in ``payload_format``; None when the platform has no
    type for it. Every shape keeps the event id, for de-duplication."""
    if payload_format == "evolution":
        return dict(envelope)
    data = envelope.get("data")
    kind = platform_type(payload_format, str(envelope["event"]), data)
    if kind is None:
        return None
    if payload_format == "ryze":
        return {
            "event": kind,
            "data": data,
            "instanceData": {
                "baseUrl": base_url,
                "instance": envelope["instance"],
                "token": token,
            },
            "id": envelope["id"],
        }
    return {
        "id": envelope["id"],
        "type": kind,
        "instance_id": envelope["instance"],
        "created_at": envelope["date_time"],
        "data": data,
    }


def markdown_table() -> str:
    """``SHAPES`` as the README shows it (a test keeps the two the same)."""

    def cell(kind: Kind) -> str:
        if kind is None:
            return "not sent"
        return kind.rule if isinstance(kind, ByData) else f"`{kind}`"

    lines = ["| Evolution event | RyzeAPI `event` | VZaps `type` |", "| --- | --- | --- |"]
    lines += [f"| `{row.wire}` | {cell(row.ryze)} | {cell(row.vzaps)} |" for row in SHAPES]
    return "\n".join(lines)
