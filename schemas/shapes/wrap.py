"""An event as a whole document in each platform's shape: the platform's wrapper around the
``data`` its consumers read.

A consumer written for RyzeAPI's Events module reads ``{"event", "data", "instanceData":
{"baseUrl", "instance", "token"}}``; one written for VZaps' realtime SDK reads ``{"id", "type",
"instance_id", "created_at", "data"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.shapes import ryze, vzaps
from schemas.shapes.table import PayloadFormat, platform_type


def shaped(
    envelope: Mapping[str, Any], payload_format: PayloadFormat, *, token: str, base_url: str
) -> dict[str, Any] | None:
    """An envelope (as its JSON object) in ``payload_format``; None when the platform has no
    type for it. Every shape keeps the event id, for de-duplication."""
    if payload_format == "evolution":
        return dict(envelope)
    wire = str(envelope["event"])
    data = envelope.get("data")
    kind = platform_type(payload_format, wire, data)
    if kind is None:
        return None
    if payload_format == "ryze":
        return {
            "event": kind,
            "data": ryze.BUILDERS[kind](wire, data, envelope),
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
        "data": vzaps.BUILDERS[kind](wire, data, envelope),
    }
