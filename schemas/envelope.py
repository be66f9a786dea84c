"""The envelope: the one JSON document every destination receives for an event."""

from typing import Any, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.catalog import (
    WIRE_NAME_PATTERN,
    WIRE_NAMES,
    UnknownEventError,
    is_wire_name,
    resolve,
)
from schemas.ids import EVENT_ID_PATTERN, is_event_id, new_event_id
from schemas.instance import INSTANCE_NAME_PATTERN, instance_word, validate_instance
from schemas.timefmt import normalize_date_time, utc_now


class Envelope(BaseModel):
    """An event as published to the exchange and delivered to every destination."""

    # Other producers may add fields of their own; they are dropped rather than refused
    # so one extra key never sends an otherwise good event to a dead-letter queue.
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(
        description="Unique, time-ordered event id (UUIDv7 or ULID); the de-duplication key.",
        json_schema_extra={"pattern": EVENT_ID_PATTERN},
    )
    event: str = Field(
        description=(
            "Wire name of the event; aliases are normalised to it. One of the catalog's, or "
            "the wire name of an event the catalog does not know yet (from a newer Evolution)."
        ),
        json_schema_extra={"pattern": WIRE_NAME_PATTERN, "examples": [*WIRE_NAMES]},
    )
    instance: str = Field(
        description="Instance the event belongs to; the first word of the routing key.",
        json_schema_extra={"pattern": INSTANCE_NAME_PATTERN},
    )
    data: Any = Field(default=None, description="The event payload, any JSON value.")
    destination: str | None = Field(
        default=None,
        description="Webhook bodies only: the URL actually posted to, suffix included.",
    )
    date_time: str = Field(
        default_factory=utc_now,
        description="When the event happened, UTC with milliseconds and 'Z'.",
        json_schema_extra={"format": "date-time"},
    )
    sender: str | None = Field(default=None, description="The sending WhatsApp id, if known.")
    server_url: str | None = Field(default=None, description="SERVER_URL of the producer.")
    apikey: str | None = Field(default=None, description="Instance API key, as Evolution sends it.")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not is_event_id(value):
            raise ValueError(
                f"id {value!r} is not an event id; expected a UUID (UUIDv7 preferred) "
                "or a 26-character ULID"
            )
        return value

    @field_validator("event")
    @classmethod
    def _canonical_event(cls, value: str, info: ValidationInfo) -> str:
        if (info.context or {}).get("checked"):
            return value
        try:
            return resolve(value).wire
        except UnknownEventError:
            # Routed under its own name, to subscriptions that take every event; a new event
            # built here (``build_envelope``) must be a catalog event unless it says otherwise.
            context = info.context or {}
            if context.get("uncatalogued", True) and is_wire_name(value):
                return value
            raise

    @field_validator("instance")
    @classmethod
    def _check_instance(cls, value: str, info: ValidationInfo) -> str:
        if (info.context or {}).get("checked"):
            return value  # the caller checked it already (``build_envelope(checked=True)``)
        return validate_instance(value)

    @field_validator("date_time")
    @classmethod
    def _utc_date_time(cls, value: str) -> str:
        return normalize_date_time(value)

    @property
    def routing_key(self) -> str:
        """``<instance word>.<event>``, the key the envelope is published with (the instance's
        name itself when it is a safe word, see ``schemas.instance``)."""
        return f"{instance_word(self.instance)}.{self.event}"

    def to_json(self) -> bytes:
        """Compact JSON in contract field order; ``destination`` only when it is set."""
        body = self.model_dump()
        if body["destination"] is None:
            del body["destination"]
        return orjson.dumps(body)

    @classmethod
    def from_json(cls, body: bytes) -> Self:
        """Parse and validate a JSON envelope.

        Raises ``ValueError`` for a body that is not a JSON object and pydantic's
        ``ValidationError`` (itself a ``ValueError``) for an object that is not an envelope.
        """
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"envelope is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"envelope must be a JSON object, not {type(parsed).__name__}")
        return cls.model_validate(parsed)

    def with_destination(self, url: str) -> Self:
        """A copy addressed to ``url``, for the body of one webhook delivery."""
        return self.model_copy(update={"destination": url})


def build_envelope(
    instance: str,
    event: str,
    data: Any,
    *,
    id: str | None = None,
    date_time: str | None = None,
    sender: str | None = None,
    server_url: str | None = None,
    apikey: str | None = None,
    uncatalogued: bool = False,
    checked: bool = False,
) -> Envelope:
    """A validated envelope for a new event; a fresh id is assigned unless one is given.
    An event outside the catalog raises ``UnknownEventError`` unless ``uncatalogued`` (a
    producer newer than the catalog) and it is of the wire form. ``checked``: the caller
    has validated the instance name and resolved the event to its wire name already."""
    fields: dict[str, Any] = {
        "id": new_event_id() if id is None else id,
        "event": event,
        "instance": instance,
        "data": data,
        "sender": sender,
        "server_url": server_url,
        "apikey": apikey,
    }
    # Left out rather than passed as None so the model's default (now) applies.
    if date_time is not None:
        fields["date_time"] = date_time
    return Envelope.model_validate(
        fields, context={"uncatalogued": uncatalogued, "checked": checked}
    )
