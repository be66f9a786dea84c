"""Prometheus metrics, defined once for the process."""

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# The *_created series double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

EVENTS_ACCEPTED = Counter(
    "router_events_accepted_total", "Events confirmed by RabbitMQ at ingest", ["event"]
)
EVENTS_UNROUTED = Counter(
    "router_events_unrouted_total", "Accepted events that no queue was bound to", ["event"]
)
EVENTS_RESENT = Counter(
    "router_events_resent_total",
    "Events sent again under an id confirmed lately: answered without publishing them twice",
)
EVENTS_UNCATALOGUED = Counter(
    "router_events_uncatalogued_total",
    "Events accepted from Evolution under a name the catalog does not know (a newer release)",
    ["event"],
)
EVENTS_REFUSED = Counter("router_events_refused_total", "Events refused at ingest", ["reason"])
API_REFUSED = Counter(
    "router_api_refused_total",
    "Configuration API calls and requests for no route refused, by reason",
    ["reason"],
)
# Beside each surface's own refusals (router_events_refused_total, ...): the refusals for a
# key alone, across every way in, so one series shows someone guessing keys or a client sending
# its key where it should not. Labels are a fixed set (router.http.keys).
AUTH_REFUSED = Counter(
    "router_auth_refused_total",
    "Requests refused for their key, by surface and reason (missing_key, wrong_key, key_in_query)",
    ["surface", "reason"],
)
PUBLISH_SECONDS = Histogram(
    "router_publish_seconds",
    "Time from ingest to RabbitMQ's confirm, per request",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERIES = Counter(
    "router_deliveries_total", "Delivery outcomes per adapter", ["adapter", "outcome"]
)
BROKER_UP = Gauge("router_broker_connected", "1 while connected to RabbitMQ")
BROKER_BLOCKED = Gauge(
    "router_broker_blocked", "1 while RabbitMQ blocks this process's publishes (an alarm)"
)
