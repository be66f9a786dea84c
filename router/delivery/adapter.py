"""The one interface every destination implements, and what a delivery can come to.

An adapter says which routing keys it wants and turns one envelope into one outcome; the
consumer loop (``router.delivery.consumer``) owns everything else: acks, prefetch, broker-side retries,
attempt counting and the dead-letter queue.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from router.config.settings import WebhookSettings
from schemas import Envelope


@dataclass(frozen=True, slots=True)
class Delivery:
    envelope: Envelope
    attempt: int  # 1 for the first try
    headers: Mapping[str, Any] = field(default_factory=dict)
    redelivered: bool = False  # the broker handed it out before without an ack
    # Set when this delivery is for one destination only: a retry of a failed one among
    # several (see ``PerTarget``).
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    destination: str | None = None
    status: int | None = None
    # The start of the destination's answer (a webhook's body, at most 2 KB), for the
    # attempt history; None where a destination answers nothing to keep.
    response: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again later. ``delay`` (seconds) overrides the adapter's retry policy, e.g. from a
    ``Retry-After`` header; the runtime still gives up after the policy's last attempt.

    ``counts=False`` defers without spending an attempt, for when nothing was tried (the
    destination is busy or known to be failing); deferrals have a limit of their own. ``due``
    (seconds since the epoch) is when a deferred event's turn comes; it travels with the event,
    so one that comes back before it keeps its turn."""

    error: str
    delay: float | None = None
    destination: str | None = None
    status: int | None = None
    counts: bool = True
    due: float | None = None
    response: str | None = None  # as ``Delivered.response``


@dataclass(frozen=True, slots=True)
class Dead:
    """Never retry; the event goes to the dead-letter queue with this reason."""

    reason: str
    destination: str | None = None
    status: int | None = None
    response: str | None = None  # as ``Delivered.response``


@dataclass(frozen=True, slots=True)
class Skipped:
    """Nothing to do for this event here (e.g. no subscription wants it any more)."""

    reason: str
    destination: str | None = None
    status: None = None


# What one target's delivery comes to.
Single = Delivered | Retry | Dead | Skipped


@dataclass(frozen=True, slots=True)
class PerTarget:
    """One outcome per destination, for an event that goes to several. Each failed one is
    retried or dead-lettered on its own, so a failure at one never resends to the others."""

    outcomes: Mapping[str, Single]
    destination: None = None
    status: None = None


Outcome = Single | PerTarget


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again; the same shape as Evolution's ``WEBHOOK_RETRY_*`` settings."""

    max_attempts: int = 10
    initial_delay: float = 5.0
    exponential: bool = True
    max_delay: float = 300.0
    jitter: float = 0.2

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based) before the next one."""
        base = self.initial_delay * (2 ** (attempt - 1) if self.exponential else 1)
        base = min(base, self.max_delay)
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.max_attempts

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> RetryPolicy:
        """Evolution's ``WEBHOOK_RETRY_*``; every adapter retries by them, as Evolution has no
        other retry settings."""
        return cls(
            max_attempts=settings.retry_max_attempts,
            initial_delay=settings.retry_initial_delay_seconds,
            exponential=settings.retry_use_exponential_backoff,
            max_delay=settings.retry_max_delay_seconds,
            jitter=settings.retry_jitter_factor,
        )


@dataclass(frozen=True, slots=True)
class Feed:
    """How the consumer loop feeds an adapter, as the adapter says."""

    prefetch: int = 0  # messages in flight it needs at least (batches fill only with enough)
    dead_letters: bool = False  # its queue is bound on the dead-letter exchange, not events'


@runtime_checkable
class Routed(Protocol):
    """What every destination has: a name, the routing keys it wants, and a lifetime.
    Construction must do no I/O: the ingest role builds destinations only to learn which
    queues and bindings to declare."""

    name: str

    def routing_keys(self) -> frozenset[str]:
        """Binding keys on the exchange (``*.messages.upsert``, ``inst.#``)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class Adapter(Routed, Protocol):
    """A destination fed from its own work queue, one event at a time (see ``Gateway`` in
    ``router.delivery.gateway`` for one fed from a stream)."""

    retry_policy: RetryPolicy
    feed: Feed

    async def deliver(self, delivery: Delivery) -> Outcome: ...
