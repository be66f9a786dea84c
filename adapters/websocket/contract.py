"""What the API document says of the WebSocket and Socket.IO endpoints. Both upgrade, so
the document describes how a client is admitted or refused before it does."""

from __future__ import annotations

from router.http.keys import query_key_names
from router.http.openapi import PROBLEM, Operation, Param, Reply, or_empty, refusals, string
from schemas.shapes import FORMATS

KEY_TEXT = "The key, where a client cannot send a header (router.http.keys)."
ADMISSION = (
    *(Param(name, "query", string(), KEY_TEXT) for name in query_key_names("websocket")),
    Param("events", "query", string(), "Comma-separated event names; every event when absent."),
    Param("format", "query", or_empty(string(enum=list(FORMATS))), "The payload's shape."),
    Param("last_event_id", "query", string(), "Resume after this event, from the stream."),
)
UPGRADED = {101: Reply("Upgraded: events follow as text frames, one envelope each.")}
REFUSED = refusals(401, 422, 503) | {426: Reply("Not a WebSocket handshake.", PROBLEM)}

ALL_INSTANCES = Operation(
    "Every instance's events over a WebSocket (WEBSOCKET_GLOBAL_EVENTS)",
    "websocket",
    UPGRADED | REFUSED | refusals(404),
    params=ADMISSION,
)
ONE_INSTANCE = Operation(
    "One instance's events over a WebSocket",
    "websocket",
    UPGRADED | REFUSED,
    params=ADMISSION,
)
SOCKET_IO = Operation(
    "Socket.IO (Engine.IO v4), as Evolution serves it",
    "websocket",
    {
        200: Reply("An Engine.IO packet.", string(), "text/plain"),
        400: Reply("Not an Engine.IO request the session takes.", string(), "text/plain"),
    },
    description="Namespace / for every instance, /<instance> for one; the key as 'apikey' in "
    "the query or a header; resume with auth {last_event_id}. Spoken by Socket.IO clients.",
    params=(
        Param("EIO", "query", string(enum=["4"]), required=True),
        *(Param(name, "query", string(), KEY_TEXT) for name in query_key_names("socketio")),
    ),
    auth="none",
)
