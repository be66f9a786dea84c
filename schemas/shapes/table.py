"""Each catalog event's type in the other platforms, where the platform has one.

``SHAPES`` is the one table: some types depend on the event's data (a ``connection.update``
whose state is ``open`` is VZaps' ``Connected``, a ``messages.update`` is a status only for the
statuses the platform reports). Every list of a platform's types, and the README's table, is
derived from it.
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
# Builds a platform type's data from the wire event, Evolution's data and the envelope.
Build = Callable[[str, Any, Mapping[str, Any]], dict[str, Any]]


def _field(name: str, types: Mapping[str, str]) -> ByData:
    def pick(data: Any) -> str | None:
        value = data.get(name) if isinstance(data, dict) else None
        return types.get(value) if isinstance(value, str) else None

    kinds = tuple(dict.fromkeys(types.values()))
    if len(kinds) == 1:
        values = ", ".join(f"`{value}`" for value in types)
        rule = f"`{kinds[0]}` when `{name}` is {values}; other values not sent"
    else:
        choices = ", ".join(f"`{value}`: `{kind}`" for value, kind in types.items())
        rule = f"by `{name}`: {choices}; other values not sent"
    return ByData(rule, pick, kinds)


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


STATUS = _field(
    "status",
    {
        "DELIVERY_ACK": "message.status",
        "READ": "message.status",
        "PLAYED": "message.status",
        "ERROR": "message.status",
    },
)
RECEIPT = _field("status", {"DELIVERY_ACK": "ReadReceipt", "READ": "ReadReceipt"})


@dataclass(frozen=True, slots=True)
class Row:
    wire: str
    ryze: Kind
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
    Row("messages.update", STATUS, RECEIPT),
    Row("send.message.update", STATUS, RECEIPT),
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


def markdown_table() -> str:
    """``SHAPES`` as the README shows it (a test keeps the two the same)."""

    def cell(kind: Kind) -> str:
        if kind is None:
            return "not sent"
        return kind.rule if isinstance(kind, ByData) else f"`{kind}`"

    lines = ["| Evolution event | RyzeAPI `event` | VZaps `type` |", "| --- | --- | --- |"]
    lines += [f"| `{row.wire}` | {cell(row.ryze)} | {cell(row.vzaps)} |" for row in SHAPES]
    return "\n".join(lines)
