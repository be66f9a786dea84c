"""The events a client asks for: ``?events=`` on ``/ws``, ``events`` in a Socket.IO ``auth``."""

from __future__ import annotations

from router.ingest import Refused
from schemas import UnknownEventError, resolve


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
