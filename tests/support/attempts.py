"""One delivery attempt record for tests, with the fields a test cares about given."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from router.config.store.attempts import Attempt

BASE = Attempt(
    event_id="0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10",
    instance="shop",
    event="messages.upsert",
    adapter="webhook",
    destination="https://crm.example/hook",
    label="global",
    attempt=1,
    outcome="delivered",
    status=200,
    duration_ms=12.5,
    error=None,
    response="ok",
    at="2026-01-02T03:04:00.000Z",
)


def attempt(second: int = 0, *, millis: int = 0, **fields: Any) -> Attempt:
    """A delivered attempt to the global webhook at 03:04:``second``.``millis`` on
    2026-01-02, but for ``fields``."""
    return replace(BASE, **{"at": f"2026-01-02T03:04:{second:02d}.{millis:03d}Z", **fields})
