"""The SQS adapter: each event to ``<instance>-<event>``, batched, nothing dropped."""

from __future__ import annotations

import botocore.exceptions
import orjson
from prometheus_client import Counter, Histogram

from adapters.sqs.client import FATAL_CODES, SqsClient, error_code
from adapters.sqs.naming import evolution_queue_name, queue_name
from router.config.selection import Selection
from router.config.settings import Settings
from router.config.store.base import ConfigStore
from router.delivery.adapter import (
    Dead,
    Delivered,
    Delivery,
    Feed,
    Outcome,
    Retry,
    RetryPolicy,
    Skipped,
)
from router.delivery.batcher import Batcher, BatcherClosed
from router.delivery.fanout import Rereader
from router.logging import get_logger
from router.media import without_claims
from schemas import Envelope, instance_word

log = get_logger("adapters.sqs")
SENT = Counter("router_sqs_messages_total", "Messages accepted by SQS")
FAILURES = Counter("router_sqs_failures_total", "SQS failures by reason", ["reason"])
BATCHES = Counter("router_sqs_batches_total", "SendMessageBatch calls")
BATCH_FILL = Histogram(
    "router_sqs_batch_entries", "Entries per SendMessageBatch", buckets=(1, 2, 3, 5, 8, 10)
)


def count_batch(entries: int) -> None:
    BATCHES.inc()
    BATCH_FILL.observe(entries)


# SQS throttling answers that are worth waiting for, even with SenderFault set.
THROTTLED = frozenset({"ThrottlingException", "RequestThrottled", "Throttling", "SlowDown"})


class SqsAdapter:
    name = "sqs"
    # Batches of 10 fill only with enough events in flight: 10 for each of ~25 queues at once.
    feed = Feed(prefetch=256)  # batches of 10 per queue fill only with enough in flight

    def __init__(self, settings: Settings) -> None:
        sqs = settings.sqs
        self.settings = sqs
        self.server_name = settings.server.name
        # SQS deliveries retry like webhooks: the same, familiar knobs.
        self.retry_policy = RetryPolicy.from_settings(settings.webhook)
        self.selection = Selection(
            sqs.enabled_events() if sqs.global_enabled else frozenset(), lambda c: c.sqs
        )
        self.client = SqsClient(sqs)
        self.batcher = Batcher(
            self.client.send_batch,
            sqs.batch_window_ms / 1000,
            sqs.max_payload_size,
            entry_fault,
            count_batch,
        )
        self.rereader = Rereader(self.reload)

    def routing_keys(self) -> frozenset[str]:
        return self.selection.routing_keys()

    async def reload(self, store: ConfigStore, instance: str | None) -> None:
        """Per-instance ``sqs`` blocks."""
        self.rereader.store = store
        await self.selection.reload(store, instance)

    async def start(self) -> None:
        try:
            await self.client.check()
        except Exception as exc:
            # Reported now, and again as a reason on every event it stops.
            log.error(
                "sqs.unavailable_at_start",
                error=f"{type(exc).__name__}: {exc}",
                endpoint=self.settings.endpoint_url or "aws",
            )

    async def close(self) -> None:
        await self.batcher.close()
        self.client.close()

    def wants(self, envelope: Envelope) -> bool:
        selection = self.selection
        return selection.wants_globally(envelope) or selection.block_for(envelope) is not None

    def queue_for(self, envelope: Envelope) -> str:
        sqs = self.settings
        if sqs.queue_naming == "evolution":
            shared = self.selection.wants_globally(envelope)
            return evolution_queue_name(
                envelope.instance,
                envelope.event,
                global_prefix=sqs.global_prefix_name if shared else None,
                single=shared and sqs.global_force_single_queue,
            )
        single = f"{sqs.global_prefix_name}-singlequeue" if sqs.global_force_single_queue else None
        return queue_name(envelope.instance, envelope.event, fifo=sqs.fifo, single=single)

    def body_of(self, envelope: Envelope) -> bytes:
        """The envelope; with Evolution's queues, with the two fields Evolution adds."""
        body = without_claims(envelope).to_json()
        if self.settings.queue_naming != "evolution":
            return body
        extra = orjson.dumps({"dataType": "json", "server": self.server_name})
        return body[:-1] + b"," + extra[1:]

    async def deliver(self, delivery: Delivery) -> Outcome:
        envelope = delivery.envelope
        if not self.wants(envelope):
            await self.rereader.again(envelope.instance)
        if not self.wants(envelope):
            return Skipped(f"SQS is not on for {envelope.instance}.{envelope.event}")
        queue = self.queue_for(envelope)
        body = self.body_of(envelope)
        attributes = (
            ("event", envelope.event),
            ("instance", envelope.instance),
            ("event_id", envelope.id),
        )
        # SQS counts message attributes (name, type and value) in the message size.
        size = len(body) + sum(len(n) + len("String") + len(v.encode()) for n, v in attributes)
        limit = self.settings.max_payload_size
        if size > limit:
            FAILURES.labels(reason="payload_too_large").inc()
            return Dead(
                f"payload_too_large: {size} bytes with attributes, over SQS_MAX_PAYLOAD_SIZE={limit}",
                destination=queue,
            )
        entry: dict[str, object] = {
            "MessageBody": body.decode(),
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in attributes
            },
        }
        if self.settings.fifo_queues:
            # SQS takes 128 characters of ASCII punctuation and alphanumerics here; one group
            # per instance keeps each instance's order, and only a resent event is dropped.
            entry["MessageGroupId"] = instance_word(envelope.instance)
            entry["MessageDeduplicationId"] = envelope.id
        try:
            result = await self.batcher.send(queue, entry, size)
        except BatcherClosed as exc:
            return Retry(str(exc), destination=queue)
        except (
            botocore.exceptions.NoCredentialsError,
            botocore.exceptions.PartialCredentialsError,
        ) as exc:
            FAILURES.labels(reason="credentials").inc()
            return Dead(
                f"credentials: {exc} (set SQS_ACCESS_KEY_ID and SQS_SECRET_ACCESS_KEY)",
                destination=queue,
            )
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc) or "ClientError"
            FAILURES.labels(reason=code).inc()
            if code in FATAL_CODES:
                return Dead(
                    f"{code}: {exc} (check SQS_ACCESS_KEY_ID, SQS_SECRET_ACCESS_KEY and the queue policy)",
                    destination=queue,
                )
            return Retry(f"{code}: {exc}", destination=queue)
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            FAILURES.labels(reason=type(exc).__name__).inc()
            return Retry(f"SQS unreachable: {type(exc).__name__}: {exc}", destination=queue)
        if result.ok:
            SENT.inc()
            return Delivered(destination=queue)
        FAILURES.labels(reason=result.code or "failed").inc()
        error = f"{result.code}: {result.message}"
        if result.code in FATAL_CODES or (result.sender_fault and result.code not in THROTTLED):
            return Dead(error, destination=queue)
        return Retry(error, destination=queue)


def entry_fault(exc: BaseException) -> bool:
    """A refused batch whose cause may be one entry (its size or contents), not the service:
    a sender error that is neither throttling nor about credentials."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return False
    error = exc.response.get("Error", {})
    code = error.get("Code")
    if code in THROTTLED or code in FATAL_CODES:
        return False
    return bool(error.get("Type") == "Sender" or code in ENTRY_CODES)


ENTRY_CODES = frozenset(
    {
        "BatchRequestTooLong",
        "InvalidMessageContents",
        "InvalidParameterValue",
        "AWS.SimpleQueueService.BatchRequestTooLong",
    }
)
