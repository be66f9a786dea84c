"""A stand-in for Evolution API 2.3's webhook output, from its documented behaviour: the body's
fields in Evolution's order, ``date_time`` in the server's local time written with a ``Z``, the
by-events suffix (dots and dashes become dashes), axios' headers and, on the global webhook, no
header of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

AXIOS_HEADERS = {
    "Accept": "application/json, text/plain, */*",
    "Content-Type": "application/json",
    "User-Agent": "axios/1.7.9",
}


def suffix_of(event: str) -> str:
    """``messages.upsert`` -> ``messages-upsert``, as Evolution builds it from the event."""
    return event.replace(".", "_").replace("-", "_").upper().replace("_", "-").lower()


@dataclass
class EvolutionWebhook:
    """One webhook of an Evolution server: the global one (no headers) or an instance's."""

    url: str  # what the operator put in WEBHOOK_GLOBAL_URL or the instance's webhook url
    by_events: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    server_url: str = "http://evolution:8080"
    utc_offset_hours: int = -3  # Evolution writes local time with a trailing Z

    def target(self, event: str) -> str:
        return f"{self.url}/{suffix_of(event)}" if self.by_events else self.url

    def body(
        self,
        event: str,
        instance: str,
        data: Any,
        *,
        sender: str | None = "5511999999999@s.whatsapp.net",
        apikey: str | None = None,
        at: datetime | None = None,
    ) -> bytes:
        local = (at or datetime.now()) + timedelta(hours=self.utc_offset_hours)
        return orjson.dumps(
            {
                "event": event,
                "instance": instance,
                "data": data,
                "destination": self.target(event),
                "date_time": local.isoformat(timespec="milliseconds") + "Z",
                "sender": sender,
                "server_url": self.server_url,
                "apikey": apikey,
            }
        )

    def request_headers(self) -> dict[str, str]:
        return {**AXIOS_HEADERS, **self.headers}
