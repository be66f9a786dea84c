"""Who wants which events, where: the global webhook from the environment and per-instance
subscriptions (several per instance, each with its own label)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from adapters.webhook.signing import WebhookSecret
from router.config.selection import GLOBAL_WEBHOOK, event_keys, webhook_target
from schemas import Envelope, event_type
from schemas.shapes import PayloadFormat

GLOBAL_ID = GLOBAL_WEBHOOK


@dataclass(frozen=True, slots=True)
class Subscription:
    url: str
    events: frozenset[str] | None  # wire names; None means every event
    instance: str | None = None  # None: every instance (the global webhook)
    label: str = "default"
    enabled: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    by_events: bool = False
    base64: bool = True
    secrets: tuple[WebhookSecret, ...] = ()
    format: PayloadFormat = "evolution"
    token: str = field(default="", repr=False)  # the instance's, for RyzeAPI's instanceData

    @property
    def id(self) -> str:
        """The delivery target: stable across restarts, carried by retries."""
        return webhook_target(self.instance, self.label)

    def wants(self, envelope: Envelope) -> bool:
        if not self.enabled:
            return False
        if self.instance is not None and self.instance != envelope.instance:
            return False
        return self.events is None or envelope.event in self.events

    def binding_keys(self) -> frozenset[str]:
        if not self.enabled:
            return frozenset()
        return event_keys(self.instance, self.events)

    def url_for(self, event: str) -> str:
        """With by-events, ``<url>/<suffix>`` (``messages-upsert``), never a double slash."""
        if not self.by_events:
            return self.url
        return f"{self.url.rstrip('/')}/{event_type(event).url_suffix}"


class Subscriptions:
    """The current set; per-instance entries can be replaced while the adapter runs."""

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._by_id: dict[str, Subscription] = {}
        for sub in subscriptions:
            self._by_id[sub.id] = sub

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, target: str) -> Subscription | None:
        return self._by_id.get(target)

    def for_envelope(self, envelope: Envelope) -> list[Subscription]:
        return [s for s in self._by_id.values() if s.wants(envelope)]

    def binding_keys(self) -> frozenset[str]:
        keys: set[str] = set()
        for sub in self._by_id.values():
            keys |= sub.binding_keys()
        return frozenset(keys)

    def replace_instance(self, instance: str, subscriptions: Iterable[Subscription]) -> None:
        """Make ``subscriptions`` the whole set for ``instance``."""
        for key in [k for k, s in self._by_id.items() if s.instance == instance]:
            del self._by_id[key]
        for sub in subscriptions:
            if sub.instance != instance:
                raise ValueError(f"subscription {sub.id} is not for instance {instance!r}")
            self._by_id[sub.id] = sub
