"""The events a client asks for: ``?events=`` on ``/ws``, ``events`` in a Socket.IO ``auth``."""

from __future__ import annotations

from dataclasses import dataclass

from router.http.requests import Refused
from schemas import UnknownEventError, resolve
from schemas.shapes import FORMATS, PayloadFormat, types_of, wires_of


def parse_events(value: str | None) -> frozenset[str] | None:
    """``?events=MESSAGES_UPSERT,call``: any accepted spelling; None when absent or empty."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    if not names:
        return None
    wires: set[str] = set()
    unknown: list[str] = []
    suggestions: list[str] = []
    for name in names:
        try:
            wires.add(resolve(name).wire)
        except UnknownEventError as exc:
            unknown.append(name)
            suggestions.extend(s for s in exc.suggestions if s not in suggestions)
    if unknown:
        raise Refused(
            422,
            "unknown_event",
            f"unknown event{'s' if len(unknown) > 1 else ''} in events: {', '.join(unknown)}",
            suggestions=suggestions,
        )
    return frozenset(wires)


def parse_format(value: str | None) -> PayloadFormat:
    """``?format=``: the payload's shape, Evolution's envelope when absent."""
    for known in FORMATS:
        if (value or "evolution") == known:
            return known
    raise Refused(
        422, "invalid_format", f"format must be one of {', '.join(FORMATS)}, not {value!r}"
    )


def parse_wanted(
    value: str | None, payload_format: PayloadFormat
) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The events a client of ``payload_format`` asks for, in that platform's types (VZaps'
    ``All`` for every one) or any catalog spelling: the catalog events to read, and the
    platform's types to send of them (None: no narrowing)."""
    if payload_format == "evolution":
        return parse_events(value), None
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    if not names or "All" in names:
        return None, None
    known = set(types_of(payload_format))
    kinds = [name for name in names if name in known]
    wires = {wire for kind in kinds for wire in wires_of(payload_format, kind)}
    others = [name for name in names if name not in known]
    wires |= parse_events(",".join(others)) or set()
    return frozenset(wires), frozenset(kinds) if kinds and not others else None


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a client asks to receive: which events, in which shape, and of that shape's
    types which (None: every one)."""

    events: frozenset[str] | None = None
    payload_format: PayloadFormat = "evolution"
    types: frozenset[str] | None = None

    @classmethod
    def parse(cls, events: str | None, payload_format: str | None) -> Wanted:
        chosen = parse_format(payload_format)
        wires, types = parse_wanted(events, chosen)
        return cls(wires, chosen, types)
