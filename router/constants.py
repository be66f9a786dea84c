"""Names and numbers shared across the router, kept in one place."""

from typing import Final

# On every webhook request the router sends (the event id): ingest refuses a request that
# carries it, since a router delivering into a router's ingest is a loop.
HTTP_HEADER_DELIVERY: Final = "X-Evrouter-Delivery"
# Evolution's path into a router: the router's own global webhook pointing there is a loop.
EVOLUTION_INGEST_PATH: Final = "/ingest/evolution"

# After an internal failure to settle a message, wait this long before handing it back to the
# broker, so a persistent fault does not turn into a hot redelivery loop.
SETTLE_FAILURE_PAUSE_SECONDS: Final = 1.0

ADAPTER_ENTRY_POINT_GROUP: Final = "router.adapters"

CONTENT_TYPE_JSON: Final = "application/json"
CONTENT_TYPE_NDJSON: Final = "application/x-ndjson"

# A message redelivered this often without an ack (consumer crashes, lost connections)
# is dead-lettered by the broker itself, so one poison body cannot loop forever.
WORK_QUEUE_DELIVERY_LIMIT: Final = 20

# Retry delays are rounded to the Renard R10 series so the number of TTL queues stays
# small (ten per decade) whatever delays adapters ask for.
RETRY_DELAY_SERIES: Final = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)
RETRY_MIN_DELAY_MS: Final = 100
RETRY_MAX_DELAY_MS: Final = 24 * 3600 * 1000

# Deferrals (Retry with counts=False) spend no attempt; past this many the event is
# dead-lettered all the same, so a destination that never recovers cannot hold it forever.
DEFERRAL_LIMIT: Final = 2000

# Reconnecting: capped so that a broker answering again is used again within two seconds.
BROKER_BACKOFF_INITIAL_SECONDS: Final = 0.2
BROKER_BACKOFF_MAX_SECONDS: Final = 1.0
