"""The headers the router writes on AMQP messages and reads back, by name and as records.

A message's retry state travels in its headers from one delivery to the next, and a dead
letter's record stays with it in the dead-letter queue, across restarts and upgrades: these
are part of the wire format, so each is written and read here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# On every event the router publishes; producers publishing straight to the exchange may set
# them instead of the envelope's fields.
INSTANCE: Final = "instance"
EVENT: Final = "event"
# The event id on retry and dead-letter copies, whose AMQP message_id is made unique: aiormq
# pairs a returned message with its publish by message_id.
EVENT_ID: Final = "x-router-event-id"
# A retry's state.
ATTEMPT: Final = "x-router-attempt"
DEFERRALS: Final = "x-router-deferrals"
# When a deferred event's turn comes (milliseconds since the epoch): back early, it keeps it.
DUE: Final = "x-router-due"
LAST_ERROR: Final = "x-router-last-error"
LAST_STATUS: Final = "x-router-last-status"
TARGET: Final = "x-router-target"
# The replay a copy was sent again by (``router.replay``).
REPLAY: Final = "x-router-replay"
# An operator event for the errors webhook, posted as it is (``router.delivery.notices``).
OPERATOR_EVENT: Final = "x-router-operator-event"
# A dead letter's record.
REASON: Final = "x-router-reason"
ATTEMPTS: Final = "x-router-attempts"
DEAD_AT: Final = "x-router-dead-at"
SOURCE_QUEUE: Final = "x-router-source-queue"
DESTINATION: Final = "x-router-destination"

# Headers that describe a past failure, the router's and the broker's: a replayed message
# starts clean.
FAILURE_HEADERS: Final = frozenset(
    {
        ATTEMPT,
        ATTEMPTS,
        DEAD_AT,
        DEFERRALS,
        DUE,
        LAST_ERROR,
        LAST_STATUS,
        REASON,
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-delivery-count",
    }
)
# Header values are capped so a huge error text cannot bloat every parked copy.
MAX_TEXT_CHARS: Final = 2000


def text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def count(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class RetryState:
    """How far a message has come: the attempt this delivery is (1 for the first) and the
    times it waited without spending one."""

    attempt: int = 1
    deferrals: int = 0

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any]) -> RetryState:
        return cls(
            attempt=max(1, count(headers.get(ATTEMPT), 1)),
            deferrals=count(headers.get(DEFERRALS), 0),
        )


@dataclass(frozen=True, slots=True)
class Parked:
    """What a retry copy carries beyond its original's headers. Only what changed is written
    (the copy keeps the rest of the original's); ``due`` always is, as None removes a turn an
    earlier deferral gave."""

    last_error: str
    attempt: int | None = None  # set when the retry spends an attempt
    deferrals: int | None = None  # set when it does not
    due_ms: int | None = None
    last_status: int | None = None
    target: str | None = None

    def to_headers(self) -> dict[str, Any]:
        headers: dict[str, Any] = {LAST_ERROR: self.last_error[:MAX_TEXT_CHARS]}
        if self.attempt is not None:
            headers[ATTEMPT] = self.attempt
        if self.deferrals is not None:
            headers[DEFERRALS] = self.deferrals
        headers[DUE] = self.due_ms
        if self.last_status is not None:
            headers[LAST_STATUS] = self.last_status
        if self.target is not None:
            headers[TARGET] = self.target
        return headers


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """Why a message is in a dead-letter queue. Read back, any field can be missing: the
    broker dead-letters on its own too (a delivery limit), with headers of its own."""

    reason: str | None
    attempts: int | None
    dead_at: str | None
    source_queue: str | None
    destination: str | None = None
    last_status: int | None = None
    target: str | None = None

    def to_headers(self) -> dict[str, Any]:
        headers: dict[str, Any] = {
            REASON: (self.reason or "")[:MAX_TEXT_CHARS],
            ATTEMPTS: self.attempts,
            DEAD_AT: self.dead_at,
            SOURCE_QUEUE: self.source_queue,
        }
        if self.destination:
            headers[DESTINATION] = self.destination
        if self.last_status is not None:
            headers[LAST_STATUS] = self.last_status
        if self.target is not None:
            headers[TARGET] = self.target
        return headers

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any]) -> DeadLetterRecord:
        reason = text(headers.get(REASON))
        broker_reason = text(headers.get("x-first-death-reason"))
        if reason is None and broker_reason:
            reason = f"broker: {broker_reason}"
        attempts = headers.get(ATTEMPTS)
        return cls(
            reason=reason,
            attempts=integer(attempts),
            dead_at=text(headers.get(DEAD_AT)),
            source_queue=text(headers.get(SOURCE_QUEUE)),
            destination=text(headers.get(DESTINATION)),
            last_status=integer(headers.get(LAST_STATUS)),
            target=text(headers.get(TARGET)),
        )
