"""Per-instance configuration: one document per instance, whichever API dialect wrote it.

Webhook subscriptions (several per instance, each with a label) and Evolution's channel blocks
(``rabbitmq``, ``sqs``, ``websocket``, ``pusher``). An enabled block or webhook with an empty
``events`` list means every event, as in Evolution.
"""

from __future__ import annotations

import re
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.catalog import resolve
from schemas.instance import validate_instance
from schemas.shapes import PayloadFormat
from schemas.timefmt import normalize_date_time, utc_now

LABEL_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_LABEL = re.compile(LABEL_PATTERN)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def canonical_events(values: list[str]) -> list[str]:
    """Wire names, in catalog spelling, without duplicates; any accepted spelling goes in."""
    seen: dict[str, None] = {}
    for value in values:
        seen[resolve(value).wire] = None
    return list(seen)


def check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url {value!r} must be an absolute http or https URL")
    try:
        parts.port  # noqa: B018 - reading it checks it: a port out of range or not a number
    except ValueError:
        raise ValueError("url has no valid port: give a number from 1 to 65535") from None
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelConfig(Strict):
    enabled: bool = False
    events: list[str] = Field(default_factory=list)

    _events = field_validator("events")(classmethod(lambda cls, v: canonical_events(v)))

    def wanted(self) -> frozenset[str] | None:
        """The events this block sends: None means all, an empty set means none."""
        if not self.enabled:
            return frozenset()
        return frozenset(self.events) if self.events else None


class PusherConfig(ChannelConfig):
    app_id: str = ""
    key: str = ""
    secret: str = ""
    cluster: str = ""
    use_tls: bool = True


class WebhookConfig(Strict):
    label: str = "default"
    url: str
    enabled: bool = True
    events: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    by_events: bool = False
    base64: bool = False
    secret: str | None = None
    # The payload's shape: Evolution's envelope, or RyzeAPI's or VZaps' (schemas.shapes).
    format: PayloadFormat = "evolution"
    # Asked for when the webhook is added (or this time changed): the archive from then on is
    # delivered to this webhook alone (``router.replay``).
    backfill_since: str | None = None
    # Kept by the router, not set by clients: since when deliveries to it fail without a
    # success, and when and why it was disabled (``router.delivery.lifecycle``).
    failing_since: str | None = None
    disabled_at: str | None = None
    disabled_reason: str | None = None
    created_at: str = Field(default_factory=utc_now)
    updated_at: str = Field(default_factory=utc_now)

    _events = field_validator("events")(classmethod(lambda cls, v: canonical_events(v)))

    @field_validator("backfill_since")
    @classmethod
    def _backfill_since(cls, value: str | None) -> str | None:
        return None if value is None else normalize_date_time(value)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError(
                f"label {value!r} is not allowed: use 1 to 64 letters, digits, '_', '-' or '.'"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in text):
                raise ValueError(f"header {name!r} has a control character in its value")
            if name.lower() == "jwt_key" and not text:
                raise ValueError("header 'jwt_key' is empty; it is the key that signs the token")
        return value

    def wanted(self) -> frozenset[str] | None:
        if not self.enabled:
            return frozenset()
        return frozenset(self.events) if self.events else None


class InstanceConfig(Strict):
    instance: str
    # The instance's own API key (Evolution's ``token``): it opens this instance's WebSocket
    # stream, and no other.
    token: str = ""
    webhooks: tuple[WebhookConfig, ...] = ()
    rabbitmq: ChannelConfig = ChannelConfig()
    sqs: ChannelConfig = ChannelConfig()
    websocket: ChannelConfig = ChannelConfig()
    pusher: PusherConfig = PusherConfig()
    updated_at: str = Field(default_factory=utc_now)

    @field_validator("instance")
    @classmethod
    def _instance(cls, value: str) -> str:
        return validate_instance(value)

    @model_validator(mode="after")
    def _unique_labels(self) -> Self:
        labels = [w.label for w in self.webhooks]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"webhook labels must be unique; repeated: {', '.join(duplicates)}")
        return self

    def webhook(self, label: str) -> WebhookConfig | None:
        return next((w for w in self.webhooks if w.label == label), None)

    def enabled_webhooks(self) -> int:
        return sum(1 for w in self.webhooks if w.enabled)

    def with_webhook(self, hook: WebhookConfig) -> InstanceConfig:
        """A copy with ``hook`` added, or replacing the one with the same label."""
        others = tuple(w for w in self.webhooks if w.label != hook.label)
        previous = self.webhook(hook.label)
        if previous is not None:
            hook = hook.model_copy(update={"created_at": previous.created_at})
        return self.model_copy(update={"webhooks": (*others, hook), "updated_at": utc_now()})

    def with_channel(self, name: str, block: ChannelConfig) -> InstanceConfig:
        if name not in ("rabbitmq", "sqs", "websocket", "pusher"):
            raise ValueError(f"unknown channel {name!r}")
        return self.model_copy(update={name: block, "updated_at": utc_now()})

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> InstanceConfig:
        return cls.model_validate(document)
