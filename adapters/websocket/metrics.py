"""Prometheus metrics of the WebSocket gateway."""

from prometheus_client import Counter, Gauge

# ``protocol``: "websocket" (``/ws``) or "socketio" (``/socket.io/``).
CLIENTS = Gauge("router_websocket_clients", "Connected clients", ["protocol"])
FRAMES_SENT = Counter(
    "router_websocket_frames_sent_total", "Event frames written to clients", ["protocol"]
)
DROPPED = Counter(
    "router_websocket_clients_dropped_total",
    "Clients disconnected by the gateway",
    ["reason", "protocol"],
)
RESUMES = Counter(
    "router_websocket_resumes_total", "Reconnections with last_event_id, by result", ["result"]
)
REFUSED = Counter(
    "router_websocket_refused_total", "Connections refused before the upgrade", ["reason"]
)
