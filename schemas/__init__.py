"""The data contract: event catalog, instance names, event ids, timestamps and envelope."""

from typing import TYPE_CHECKING, Any

from schemas.catalog import (
    CATALOG,
    WIRE_NAMES,
    EventType,
    UnknownEventError,
    accepted_keys,
    by_wire,
    config_key,
    event_type,
    is_wire_name,
    nearest,
    resolve,
)
from schemas.envelope import Envelope, build_envelope
from schemas.ids import EVENT_ID_PATTERN, derived_event_id, is_event_id, new_event_id
from schemas.instance import (
    INSTANCE_NAME_MAX_LENGTH,
    INSTANCE_NAME_PATTERN,
    InvalidInstanceError,
    instance_word,
    validate_instance,
)
from schemas.timefmt import normalize_date_time, utc_now

if TYPE_CHECKING:
    from schemas.jsonschema import SCHEMA_PATH, envelope_schema, render

# The schema exporter is loaded on first use: importing it here would make
# `python -m schemas.jsonschema` find its own module already imported and warn.
_LAZY_FROM_JSONSCHEMA = frozenset({"SCHEMA_PATH", "envelope_schema", "render"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_FROM_JSONSCHEMA:
        from schemas import jsonschema

        return getattr(jsonschema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CATALOG",
    "EVENT_ID_PATTERN",
    "INSTANCE_NAME_MAX_LENGTH",
    "INSTANCE_NAME_PATTERN",
    "SCHEMA_PATH",
    "WIRE_NAMES",
    "Envelope",
    "EventType",
    "InvalidInstanceError",
    "UnknownEventError",
    "accepted_keys",
    "build_envelope",
    "by_wire",
    "config_key",
    "derived_event_id",
    "envelope_schema",
    "event_type",
    "instance_word",
    "is_event_id",
    "is_wire_name",
    "nearest",
    "new_event_id",
    "normalize_date_time",
    "render",
    "resolve",
    "utc_now",
    "validate_instance",
]
