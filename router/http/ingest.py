"""``POST /events/{instance}`` and its batch form: validate everything, publish with confirms,
answer 202 only once RabbitMQ confirmed. Nothing refused before publishing is published later;
a publish whose confirm did not come in time is answered 503 with its id, to be sent again
under that id (see ``router.amqp.publisher``)."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from router import metrics
from router.amqp.broker import BrokerBlocked, BrokerUnavailable
from router.amqp.publisher import Published, PublishFailed
from router.constants import CONTENT_TYPE_NDJSON
from router.http.appkeys import INGEST_RATES, PUBLISHER, SETTINGS
from router.http.openapi import (
    ANY_JSON,
    INSTANCE,
    PROBLEM,
    Component,
    Operation,
    Reply,
    Schema,
    array,
    documented,
    nullable,
    obj,
    refusals,
    string,
)
from router.http.ratelimit import TokenBuckets, retry_after
from router.http.requests import (
    RETRY_AFTER_SECONDS,
    Refused,
    check_auth,
    checked_instance,
    json_response,
    parse_json,
    parse_ndjson,
    read_body,
    validation_problems,
)
from schemas import (
    WIRE_NAMES,
    Envelope,
    UnknownEventError,
    build_envelope,
    resolve,
)

# One event of a request, as the API document describes it; its fields are the ones taken.
EVENT_FIELDS: dict[str, Schema] = {
    "event": string(
        "A catalog event: its wire name (messages.upsert), config key (MESSAGES_UPSERT, any "
        "case) or camelCase alias (messagesUpsert).",
        minLength=1,
        examples=["messages.upsert"],
    ),
    "data": ANY_JSON,
    # Null is the same as left out.
    "id": nullable(string("The event id, when the producer gives one: a UUIDv7 or ULID.")),
    "sender": nullable(string("The sending WhatsApp id.")),
    "date_time": nullable(string("When it happened, ISO-8601; kept as UTC, ms and Z.")),
    "apikey": nullable(string("The instance's API key, as Evolution sends it.")),
    "instance": {"anyOf": [INSTANCE, {"type": "null"}]},
    "server_url": nullable(string("SERVER_URL of the producer; the router's own wins.")),
    "destination": ANY_JSON | {"description": "Ignored here: set per webhook delivery."},
}
ACCEPTED_FIELDS = frozenset(EVENT_FIELDS)
EVENT = Component("Event", obj(EVENT_FIELDS, ["event"]))
ACCEPTED = obj({"id": string("The event's id.")}, ["id"], closed=False)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_event_bytes: int
    max_batch_events: int
    max_batch_bytes: int


def path_instance(request: web.Request) -> str | None:
    instance = request.match_info.get("instance")
    return None if instance is None else checked_instance(instance)


def to_envelope(
    item: Any, instance: str | None, server_url: str | None, max_bytes: int
) -> tuple[Envelope, bytes]:
    """One event object of a request as a validated envelope and its encoding, or a
    ``Refused``."""
    if not isinstance(item, dict):
        raise Refused(422, "invalid", f"an event must be a JSON object, not {type(item).__name__}")
    unknown = sorted(set(item) - ACCEPTED_FIELDS)
    if unknown:
        raise Refused(422, "invalid", f"unknown fields: {', '.join(unknown)}")
    event = item.get("event")
    if not isinstance(event, str) or not event:
        raise Refused(
            422, "invalid", "'event' is required: a catalog event name, e.g. messages.upsert"
        )
    try:
        wire = resolve(event).wire
    except UnknownEventError as exc:
        raise Refused(422, "unknown_event", str(exc), suggestions=exc.suggestions) from None
    body_instance = item.get("instance")
    if instance is None:
        # From the body; one from the path was checked once for the whole request.
        if not isinstance(body_instance, str):
            raise Refused(422, "bad_instance", "'instance' is required in the body at POST /events")
        instance = checked_instance(body_instance)
    elif body_instance is not None and body_instance != instance:
        raise Refused(
            422,
            "bad_instance",
            f"body instance {body_instance!r} differs from the path's {instance!r}",
        )
    for field in ("id", "sender", "date_time", "apikey", "server_url"):
        if item.get(field) is not None and not isinstance(item[field], str):
            raise Refused(422, "invalid", f"'{field}' must be a string")
    try:
        envelope = build_envelope(
            instance,
            wire,
            item.get("data"),
            id=item.get("id"),
            date_time=item.get("date_time"),
            sender=item.get("sender"),
            server_url=server_url or item.get("server_url"),
            apikey=item.get("apikey"),
            checked=True,
        )
    except ValidationError as exc:
        raise Refused(422, "invalid", validation_problems(exc)) from None
    encoded = envelope.to_json()
    if len(encoded) > max_bytes:
        raise Refused(
            413,
            "too_large",
            f"event is {len(encoded)} bytes, over ROUTER_MAX_EVENT_BYTES={max_bytes}",
        )
    return envelope, encoded


def check_rates(buckets: TokenBuckets, envelopes: Sequence[Envelope]) -> None:
    """Refused with 429 when an instance is over its rate (ROUTER_INGEST_RATE_PER_INSTANCE)."""
    for instance, count in collections.Counter(e.instance for e in envelopes).items():
        wait = buckets.take(instance, count)
        if wait:
            raise Refused(
                429,
                "rate_limited",
                f"instance {instance!r} is over ROUTER_INGEST_RATE_PER_INSTANCE="
                f"{buckets.rate:g} events/s; nothing was published; retry in {wait:.2f} s",
                retry_after=retry_after(wait),
            )


async def publish(
    request: web.Request, envelopes: Sequence[Envelope], bodies: Sequence[bytes]
) -> list[Published | PublishFailed]:
    buckets = request.app.get(INGEST_RATES)
    if buckets is not None:
        check_rates(buckets, envelopes)
    publisher = request.app[PUBLISHER]
    started = time.perf_counter()
    try:
        results = await publisher.publish_envelopes(envelopes, bodies)
    except BrokerBlocked as exc:
        raise Refused(
            503, "broker_unavailable", f"{exc}: nothing was published; retry later"
        ) from None
    except BrokerUnavailable as exc:
        raise Refused(
            503, "broker_unavailable", f"RabbitMQ is unavailable: {exc}; retry later"
        ) from None
    metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)
    for result in results:
        if isinstance(result, Published) and result.again:
            metrics.EVENTS_RESENT.inc()
        elif isinstance(result, Published):
            # Names outside the catalog share one label: a caller could make up any number.
            event = result.envelope.event
            label = event if event in WIRE_NAMES else "uncatalogued"
            metrics.EVENTS_ACCEPTED.labels(event=label).inc()
            if not result.routed:
                metrics.EVENTS_UNROUTED.labels(event=label).inc()
    return results


async def post_event(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    try:
        check_auth(request)
        instance = path_instance(request)
        limit = settings.router.max_event_bytes
        item = parse_json(await read_body(request, limit))
        envelope, body = to_envelope(item, instance, settings.server.url or None, limit)
        (result,) = await publish(request, [envelope], [body])
        if isinstance(result, PublishFailed):
            raise Refused(
                503,
                "broker_unavailable",
                f"not confirmed: {result}; retry with the same id",
                id=envelope.id,
            )
    except Refused as refused:
        metrics.EVENTS_REFUSED.labels(reason=refused.reason).inc()
        return refused.response()
    return json_response({"id": envelope.id}, 202)


async def post_batch(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    limits = settings.router
    try:
        check_auth(request)
        instance = path_instance(request)
        body = await read_body(request, limits.max_batch_bytes)
        if request.content_type == CONTENT_TYPE_NDJSON:
            items = parse_ndjson(body)
        else:
            items = parse_json(body)
            if not isinstance(items, list):
                raise Refused(422, "invalid", "a batch is a JSON array of events (or NDJSON)")
        if not items:
            raise Refused(422, "invalid", "the batch is empty")
        if len(items) > limits.max_batch_events:
            raise Refused(
                413,
                "too_large",
                f"{len(items)} events, over ROUTER_MAX_BATCH_EVENTS={limits.max_batch_events}",
            )
        envelopes: list[Envelope] = []
        bodies: list[bytes] = []
        for index, item in enumerate(items):
            try:
                envelope, encoded = to_envelope(
                    item, instance, settings.server.url or None, limits.max_event_bytes
                )
            except Refused as refused:
                refused.extra["index"] = index
                refused.message = f"event {index}: {refused.message}"
                raise
            envelopes.append(envelope)
            bodies.append(encoded)
        results = await publish(request, envelopes, bodies)
    except Refused as refused:
        metrics.EVENTS_REFUSED.labels(reason=refused.reason).inc()
        return refused.response()
    failed = [(i, r) for i, r in enumerate(results) if isinstance(r, PublishFailed)]
    if failed:
        metrics.EVENTS_REFUSED.labels(reason="broker_unavailable").inc(len(failed))
        accepted = [r.envelope.id for r in results if isinstance(r, Published)]
        return json_response(
            {
                "error": "broker_unavailable",
                "message": f"{len(failed)} of {len(results)} events were not confirmed; "
                "retry those with the same ids",
                "ids": accepted,
                "failed": [{"index": i, "id": envelopes[i].id, "error": str(r)} for i, r in failed],
            },
            503,
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    return json_response({"ids": [e.id for e in envelopes]}, 202)


ONE_EVENT = Operation(
    "Publish one event",
    "events",
    {202: Reply("Confirmed by RabbitMQ: it will be delivered.", ACCEPTED)}
    | refusals(400, 401, 413, 422, 429, 503),
    description="Answered 202 only once RabbitMQ confirmed the publish; a 503 with an id "
    "means: send it again under that id.",
    body={"application/json": EVENT},
)
BATCH = Operation(
    "Publish events in one request",
    "events",
    {
        202: Reply(
            "Every event confirmed, ids in order.",
            obj({"ids": array(string())}, ["ids"], closed=False),
        )
    }
    | refusals(400, 401, 413, 422, 429)
    | {
        503: Reply(
            "Some or all were not confirmed: 'ids' lists those accepted, 'failed' the rest, "
            "to send again with the same ids.",
            PROBLEM,
            headers=("Retry-After",),
        )
    },
    body={
        "application/json": array(EVENT, minItems=1),
        # The same events, one JSON object per line.
        "application/x-ndjson": array(EVENT, minItems=1),
    },
)


def add_routes(app: web.Application) -> None:
    documented(
        app,
        "POST",
        "/events",
        post_event,
        dataclasses.replace(
            ONE_EVENT,
            body={"application/json": obj(EVENT_FIELDS, ["event", "instance"])},
        ),
    )
    documented(app, "POST", "/events/{instance}", post_event, ONE_EVENT)
    documented(app, "POST", "/events/{instance}/batch", post_batch, BATCH)
