"""Prometheus metrics of the WebSocket gateway."""

from prometheus_client import Counter, Gauge

CLIENTS = Gauge("router_websocket_clients", "Connected WebSocket clients")
FRAMES_SENT = Counter("router_websocket_frames_sent_total", "Event frames written to clients")
DROPPED = Counter(
    "router_websocket_clients_dropped_total", "Clients disconnected by the gateway", ["reason"]
)
RESUMES = Counter(
    "router_websocket_resumes_total", "Reconnections with last_event_id, by result", ["result"]
)
REFUSED = Counter(
    "router_websocket_refused_total", "Connections refused before the upgrade", ["reason"]
)
