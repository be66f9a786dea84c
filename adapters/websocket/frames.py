"""What the gateway tells clients besides events: close codes and control frames.

Event frames are envelopes, one JSON object per text frame. Control frames have a ``type``
and no ``event``, and are sent only to a client that asked to resume.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

# The client fell further behind than WEBSOCKET_MAX_BUFFER frames and was disconnected; it may
# reconnect with ?last_event_id= to get what it missed.
CLOSE_TOO_SLOW: Final = 4008
# The gateway is shutting down (RFC 6455 "going away").
CLOSE_GOING_AWAY: Final = 1001

RESUMED: Final = "resumed"
HISTORY_UNAVAILABLE: Final = "history_unavailable"


def control(kind: str, **fields: Any) -> bytes:
    return orjson.dumps({"type": kind, **fields})


def resumed(last_event_id: str, replayed: int) -> bytes:
    """Every event after ``last_event_id`` has been sent; live events follow."""
    return control(RESUMED, last_event_id=last_event_id, replayed=replayed)


def history_unavailable(last_event_id: str) -> bytes:
    """The stream no longer holds (or never held) ``last_event_id``; live events follow, and
    whatever came between is not available here."""
    return control(
        HISTORY_UNAVAILABLE,
        last_event_id=last_event_id,
        detail="this event id is not in the retained history (too old, or unknown); "
        "live events follow",
    )
