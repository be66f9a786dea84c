"""``POST /ingest/evolution``: Evolution API's webhook, taken exactly as Evolution sends it.

Evolution's global webhook sends no headers of its own, so the router's key may travel in the
path: ``/ingest/evolution/{key}`` and, with by-events on, ``/ingest/evolution/{key}/{suffix}``.
Without a key in the path it comes from ``apikey`` or ``Authorization: Bearer`` as elsewhere
(``/ingest/evolution`` and ``/ingest/evolution/{suffix}``, for a per-instance webhook with
headers).

Evolution gives up at once on 400, 401, 404 and 422, and after its last retry on anything else,
so this door never refuses what it can use, and keeps what it cannot use (with the reason, in
``<exchange>.ingest.dlq``) before saying so. Evolution sends no event id and sends the same body
again when it retries, so the id is derived from the body: a retry is the same event, answered
from the ledger without being published twice. An event a newer Evolution emits and the catalog
does not know yet is routed under its own name, never refused here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from router import metrics
from router.amqp.broker import BrokerBlocked, BrokerUnavailable
from router.amqp.publisher import PublishFailed
from router.amqp.topology import ingest_dlq_name
from router.http.appkeys import PUBLISHER, SETTINGS
from router.http.auth import key_matches, presented_key, same_secret
from router.http.ingest import ACCEPTED, publish
from router.http.keys import HEADER_WAYS
from router.http.openapi import ANY_JSON, Operation, Reply, documented, obj, refusals, string
from router.http.requests import (
    Refused,
    check_no_key_in_query,
    check_not_looped,
    json_response,
    parse_json,
    unauthorized,
    validation_problems,
)
from router.logging import get_logger, mask_url
from router.media import Cut, MediaStore, claimed, cut_media
from schemas import (
    CATALOG,
    WIRE_NAMES,
    Envelope,
    UnknownEventError,
    build_envelope,
    derived_event_id,
    is_event_id,
    is_wire_name,
    normalize_date_time,
    resolve,
)

log = get_logger("router.evolution_webhook")

PREFIX = "/ingest/evolution"
# What Evolution 2.x puts in a webhook body. ``destination`` is Evolution's own webhook URL,
# which holds the router's key when it travels in the path: it never enters the envelope.
EVOLUTION_FIELDS = frozenset(
    {"event", "instance", "data", "destination", "date_time", "sender", "server_url", "apikey"}
)
OPTIONAL_STRINGS = ("sender", "server_url", "apikey")
# Names logged once each (and labelled in metrics), up to this many.
NOTED_MAX = 50


@dataclass(frozen=True, slots=True)
class Route:
    """What the path says: the key it carries, if any, and the by-events suffix, if any."""

    key: str | None
    suffix: str | None


def route_of(segments: tuple[str, ...], expected_key: str) -> Route:
    """Read ``/ingest/evolution[/{key}][/{suffix}]``. One segment is the key when it is the
    router's key, else a suffix (a per-instance webhook with by-events and an ``apikey``
    header); the comparison takes the same time either way. Of more, the first is the key
    and the last the suffix."""
    if len(segments) >= 2:
        return Route(segments[0], segments[-1])
    if len(segments) == 1:
        (segment,) = segments
        if same_secret(expected_key, segment):
            return Route(segment, None)
        return Route(None, segment)
    return Route(None, None)


def evolution_suffix(event: str) -> str:
    """The suffix Evolution appends for ``event`` in by-events mode: dots and dashes become
    dashes, lower case (``send.message.update`` -> ``send-message-update``)."""
    return event.replace(".", "-").replace("_", "-").lower()


def event_ms(date_time: Any) -> int | None:
    """Unix ms of a body's ``date_time``, the time part of its derived id; None if unusable."""
    if not isinstance(date_time, str):
        return None
    try:
        moment = datetime.fromisoformat(normalize_date_time(date_time).replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


# A lone path segment that is none of these is a key, wrong, rather than a by-events suffix.
CATALOG_SUFFIXES = frozenset(event.url_suffix for event in CATALOG)
WAYS_HERE = f"the path (/ingest/evolution/<key>), or {HEADER_WAYS}"


def check_auth_here(request: web.Request, route: Route, expected: str) -> None:
    """The key from the path, else from a header; never from the query string. A refusal is
    counted as a wrong key when anything was presented, the lone segment of a guessed key in
    the path included."""
    check_not_looped(request)
    check_no_key_in_query(request, "evolution_webhook", instead=WAYS_HERE)
    presented = route.key if route.key is not None else presented_key(request)
    if key_matches(expected, presented):
        return
    guessed = route.key is None and route.suffix not in (None, *CATALOG_SUFFIXES)
    raise unauthorized(
        "evolution_webhook",
        presented or (route.suffix if guessed else None),
        "wrong or missing key (in the path or apikey)",
    )


class Unusable(Refused):
    """A body that cannot become an event: kept in the ingest DLQ, then refused."""


def to_envelope(item: Any, raw: bytes | bytearray, server_url: str | None) -> Envelope:
    """An Evolution webhook body as an envelope whose id is derived from the body (or its own
    ``id``, when a producer gives one); ``Unusable`` with the reason otherwise."""
    if not isinstance(item, dict):
        raise Unusable(422, "invalid", f"the body must be a JSON object, not {type(item).__name__}")
    event, instance = item.get("event"), item.get("instance")
    if not isinstance(event, str) or not event:
        raise Unusable(422, "invalid", "'event' is missing: not an Evolution event body")
    if not isinstance(instance, str):
        raise Unusable(422, "bad_instance", "'instance' is missing: not an Evolution event body")
    try:
        wire = resolve(event).wire
    except UnknownEventError as exc:
        if not is_wire_name(event):
            raise Unusable(422, "unknown_event", str(exc)) from None
        wire = event  # a newer Evolution's event: routed under its own name
    given = item.get("id")
    strings = {f: v for f in OPTIONAL_STRINGS if isinstance(v := item.get(f), str)}
    date_time = item.get("date_time")
    try:
        return build_envelope(
            instance,
            wire,
            item.get("data"),
            id=given
            if isinstance(given, str) and is_event_id(given)
            else derived_event_id(raw, event_ms(date_time)),
            date_time=date_time if isinstance(date_time, str) else None,
            sender=strings.get("sender"),
            server_url=server_url or strings.get("server_url"),
            apikey=strings.get("apikey"),
            uncatalogued=True,
        )
    except ValidationError as exc:
        raise Unusable(422, "invalid", validation_problems(exc)) from None


class TooLarge(Refused):
    """A 413, with the instance and event the body names, for the log."""

    def __init__(self, message: str, instance: str | None, event: str | None) -> None:
        super().__init__(413, "too_large", message)
        self.instance, self.event = instance, event


_PEEK = {
    name: re.compile(rb'"' + name.encode() + rb'"\s*:\s*"((?:[^"\\]|\\.){1,300})"')
    for name in ("event", "instance")
}


def peek(head: bytes, name: str) -> str | None:
    """A string field near the start of a body too large to read whole (Evolution writes
    ``event`` and ``instance`` first)."""
    found = _PEEK[name].search(head)
    return found.group(1).decode("utf-8", "replace") if found else None


async def read_evolution_body(request: web.Request, limit: int) -> bytearray:
    """The whole body, or ``TooLarge`` naming its instance and event once it passes ``limit``.
    A body of known length is read into one buffer of that size, never copied: a video is
    tens of MB, and each copy is one more."""
    length = request.content_length
    body = bytearray(length) if length is not None and length <= limit else bytearray()
    if length is None or length <= limit:
        size = 0
        while chunk := await request.content.readany():
            end = size + len(chunk)
            if end > limit:
                body[size:] = chunk  # over the limit: only the head is looked at
                size = end
                break
            body[size:end] = chunk
            size = end
        if size <= limit:
            del body[size:]  # a body shorter than it said
            return body
    head = bytes(body[:4096]) or await request.content.read(4096)
    raise TooLarge(
        f"the body is over ROUTER_MAX_EVOLUTION_BYTES={limit}",
        peek(head, "instance"),
        peek(head, "event"),
    )


@dataclass
class Door:
    """The handler, with what it has already said once: unknown fields and events the catalog
    does not know are logged once each (a bounded number of them)."""

    media: MediaStore
    noted_fields: set[str] = field(default_factory=set)
    noted_events: set[str] = field(default_factory=set)

    def note_uncatalogued(self, envelope: Envelope) -> None:
        if envelope.event in WIRE_NAMES:
            return
        if envelope.event not in self.noted_events and len(self.noted_events) < NOTED_MAX:
            self.noted_events.add(envelope.event)
            log.warning(
                "ingest.uncatalogued_event",
                _event=envelope.event,
                instance=envelope.instance,
                detail="not in the catalog: routed under its own name, delivered to "
                "subscriptions that take every event",
            )
        # A label per name for the first few; any number of made-up names cannot follow.
        label = envelope.event if envelope.event in self.noted_events else "other"
        metrics.EVENTS_UNCATALOGUED.labels(event=label).inc()

    def note_unknown(self, item: Mapping[str, Any]) -> None:
        new = sorted(set(item) - EVOLUTION_FIELDS - {"id"} - self.noted_fields)
        if new and len(self.noted_fields) < NOTED_MAX:
            self.noted_fields.update(new)
            log.info("ingest.evolution_fields_ignored", fields=new)

    async def handle(self, request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        segments = tuple(s for s in request.match_info.get("tail", "").split("/") if s)
        route = route_of(segments, settings.authentication.api_key.get_secret_value())
        try:
            check_auth_here(request, route, settings.authentication.api_key.get_secret_value())
            limits = settings.router
            raw = await read_evolution_body(request, limits.max_evolution_bytes)
            cut = cut_media(raw, limits.media_claim_bytes)
            try:
                envelope = self.envelope(cut, route, settings.server.url or None)
            except Unusable as unusable:
                await keep(request, raw, unusable, route)
                raise
            envelope = await claimed(envelope, cut, limits.media_claim_bytes, self.media)
            del raw, cut  # the media is stored: nothing of the body is needed from here
            body = envelope.to_json()
            if len(body) > limits.max_event_bytes:
                raise TooLarge(
                    f"the event is {len(body)} bytes without its media, over "
                    f"ROUTER_MAX_EVENT_BYTES={limits.max_event_bytes}",
                    envelope.instance,
                    envelope.event,
                )
            (result,) = await publish(request, [envelope], [body])
            if isinstance(result, PublishFailed):
                raise Refused(503, "broker_unavailable", f"not confirmed: {result}", id=envelope.id)
            if not result.again:
                self.note_uncatalogued(envelope)
        except Refused as refused:
            metrics.EVENTS_REFUSED.labels(reason=refused.reason).inc()
            if isinstance(refused, TooLarge):
                log.warning(
                    "ingest.too_large",
                    instance=refused.instance,
                    _event=refused.event,
                    detail=refused.message,
                )
            return refused.response()
        return json_response({"id": envelope.id}, 202)

    def envelope(self, cut: Cut, route: Route, server_url: str | None) -> Envelope:
        try:
            item = parse_json(cut.text)
        except Refused as refused:
            raise Unusable(refused.status, refused.reason, refused.message) from None
        envelope = to_envelope(item, cut.raw, server_url)
        self.note_unknown(item)
        if route.suffix is not None and route.suffix != evolution_suffix(envelope.event):
            log.warning(
                "ingest.suffix_mismatch",
                suffix=route.suffix,
                event_id=envelope.id,
                instance=envelope.instance,
                _event=envelope.event,
            )
        return envelope


async def keep(
    request: web.Request, raw: bytes | bytearray, unusable: Unusable, route: Route
) -> None:
    """Keep an unusable body with its reason; a 503 instead when RabbitMQ does not take it,
    so Evolution sends it again rather than giving up."""
    queue = ingest_dlq_name(request.app[SETTINGS].rabbitmq.exchange_name)
    headers = {"x-router-door": "evolution-webhook", "x-router-suffix": route.suffix or ""}
    try:
        await request.app[PUBLISHER].keep(kept_body(raw), unusable.message, headers)
    except (BrokerBlocked, BrokerUnavailable) as exc:
        raise Refused(503, "broker_unavailable", f"{exc}; send it again later") from None
    unusable.extra["kept"] = queue
    log.warning("ingest.kept", queue=queue, reason=unusable.message, size=len(raw))


def kept_body(raw: bytes | bytearray) -> bytes:
    """The body as kept: Evolution's ``destination`` is its webhook URL, the router's key in
    it, so any ``/ingest/evolution/<key>`` in a text body is masked first."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return bytes(raw)
    return mask_url(text).encode()


BODY = obj(
    {name: ANY_JSON if name == "data" else string() for name in sorted(EVOLUTION_FIELDS)},
    ["event"],
    closed=False,
    description="Evolution's webhook body as it sends it; fields it adds are ignored.",
)
DOOR = Operation(
    "Take an event as Evolution API's webhook sends it",
    "events",
    {202: Reply("Confirmed by RabbitMQ.", ACCEPTED)} | refusals(400, 401, 413, 422, 429, 503),
    description="A body it cannot use is kept, with the reason, in <exchange>.ingest.dlq "
    "before it is refused ('kept' names the queue). An event the catalog does not know is "
    "routed under its own name.",
    body={"application/json": BODY},
)
DOOR_WITH_PATH = Operation(
    DOOR.summary,
    DOOR.tag,
    DOOR.replies,
    description=DOOR.description
    + " The tail is the router's key (Evolution's global webhook sends no headers), the "
    "by-events suffix, or both: /{key}/{suffix}.",
    body=DOOR.body,
    auth="none",
    path=PREFIX + "/{tail}",
    path_params={"tail": string("key, suffix or key/suffix", minLength=1)},
)


def add_routes(app: web.Application, media: MediaStore) -> None:
    door = Door(media)
    documented(app, "POST", PREFIX, door.handle, DOOR)
    # Any tail, line breaks too: Evolution appends "/<suffix>" to the URL as given, so a URL
    # ending in "/" gives an empty segment, which must not be a 404 (final for Evolution).
    documented(app, "POST", PREFIX + r"{tail:/[\s\S]*}", door.handle, DOOR_WITH_PATH)
