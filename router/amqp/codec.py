"""An event on the wire, both ways: the AMQP message of an envelope, and the envelope of a
message. One home, because messages outlive the process that wrote them: they wait in queues
and streams across upgrades, and producers other than the router publish to the exchange.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import aio_pika
import orjson
from aio_pika.abc import AbstractMessage
from pamqp.commands import Basic

from router.amqp.burst import Outgoing
from router.amqp.headers import EVENT, EVENT_ID, INSTANCE, TARGET, text
from router.constants import CONTENT_TYPE_JSON
from schemas import Envelope, derived_event_id, is_event_id

APP_ID: Final = "evrouter"  # the messages the router wrote itself
PERSISTENT: Final = 2  # delivery mode: written to disk by every queue that takes it


def _properties(envelope: Envelope, headers: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "message_id": envelope.id,
        "content_type": CONTENT_TYPE_JSON,
        "delivery_mode": PERSISTENT,
        "timestamp": datetime.now(UTC),
        "type": envelope.event,
        "app_id": APP_ID,
        "headers": {INSTANCE: envelope.instance, EVENT: envelope.event, **(headers or {})},
    }


def encode(
    envelope: Envelope, headers: dict[str, Any] | None = None, body: bytes | None = None
) -> aio_pika.Message:
    """The AMQP message of an envelope; ``body`` saves encoding it again when already done."""
    return aio_pika.Message(
        envelope.to_json() if body is None else body, **_properties(envelope, headers)
    )


def outgoing_of(envelope: Envelope, body: bytes | None = None) -> Outgoing:
    """The same message as ``encode``'s, for a burst (``router.amqp.burst``)."""
    fields = _properties(envelope, None)
    fields["message_type"] = fields.pop("type")  # pamqp's name for the property
    return Outgoing(
        envelope.routing_key,
        envelope.to_json() if body is None else body,
        Basic.Properties(**fields),
    )


def decode(message: AbstractMessage) -> Envelope:
    """The envelope of a message, which a producer may have published straight to the
    exchange: missing ``id``, ``instance`` or ``event`` fields are taken from the message's
    properties and headers when present (an id is derived from the body when there is none,
    the same on every adapter and every retry). Anything still invalid raises ``ValueError``.
    """
    try:
        body = orjson.loads(message.body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError(f"body must be a JSON object, not {type(body).__name__}")
    headers = message.headers or {}
    if "id" not in body:
        given = headers.get(EVENT_ID)
        mid = message.message_id
        if isinstance(given, str) and is_event_id(given):
            body["id"] = given
        else:
            body["id"] = mid if mid and is_event_id(mid) else derived_event_id(message.body, None)
    for field, header in (("instance", INSTANCE), ("event", EVENT)):
        if field not in body and isinstance(headers.get(header), str):
            body[field] = headers[header]
    return Envelope.model_validate(body)


def as_sent(message: AbstractMessage, envelope: Envelope) -> bool:
    """Whether the message's body is the router's own encoding of ``envelope``, so it can be
    passed on as it is."""
    return message.app_id == APP_ID and message.message_id == envelope.id


def target_of(message: AbstractMessage) -> str | None:
    """The one subscription a retry copy is for, when it is for one."""
    return text((message.headers or {}).get(TARGET))


def original_id(message: AbstractMessage) -> str | None:
    """The event id a message had before it became a retry or dead-letter copy (copies get
    message ids of their own)."""
    given = (message.headers or {}).get(EVENT_ID)
    return given if isinstance(given, str) else message.message_id
