"""The delivery attempt history: what one attempt record holds, how it is asked for, the small
interface the SQLite and PostgreSQL stores implement beside their configuration, and an
in-memory double for tests of what sits above it.

Records are listed newest first, ordered by (``at``, row id): the row id breaks ties between
attempts of the same millisecond, so a page boundary is one exact position (keyset
pagination) and a page never repeats or skips a row, however many are written meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Final, Literal, Protocol

from router.config.store.minutes import TrafficRow, minute_rows

# "deferred": not sent and no attempt spent (the receiver's breaker was open, or its slots
# full); "retry": sent, or tried, and failed.
Outcome = Literal["delivered", "retry", "dead", "skipped", "deferred"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("delivered", "retry", "dead", "skipped", "deferred")
# The filters that match a column exactly, in the order the API documents them.
EXACT_FILTERS: Final[tuple[str, ...]] = (
    "event_id",
    "instance",
    "destination",
    "outcome",
    "adapter",
    "label",
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt as it is stored and answered; ``at`` is the envelope's time format
    (UTC, milliseconds, ``Z``), so its text order is its time order."""

    event_id: str
    instance: str
    event: str
    adapter: str
    destination: str  # credentials masked
    label: str | None
    attempt: int
    outcome: Outcome
    status: int | None
    duration_ms: float
    error: str | None
    response: str | None
    at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# Stored columns, named as the record's fields and in their order (``at`` last).
COLUMNS: Final = tuple(f.name for f in fields(Attempt))


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a listing stands: the (``at``, row id) of the last record answered."""

    at: str
    row: int


@dataclass(frozen=True, slots=True)
class Stored:
    row: int
    attempt: Attempt

    @property
    def position(self) -> Position:
        return Position(self.attempt.at, self.row)


@dataclass(frozen=True, slots=True)
class AttemptQuery:
    """Exact filters (None: any), an inclusive time range, and the page: the ``limit``
    records older than ``before``."""

    event_id: str | None = None
    instance: str | None = None
    destination: str | None = None
    outcome: Outcome | None = None
    adapter: str | None = None
    label: str | None = None
    since: str | None = None
    until: str | None = None
    before: Position | None = None
    limit: int = 50

    def exact(self) -> dict[str, str]:
        """The exact filters given, by column."""
        found = {name: getattr(self, name) for name in EXACT_FILTERS}
        return {name: value for name, value in found.items() if value is not None}


@dataclass(frozen=True, slots=True)
class AttemptPage:
    attempts: list[Stored]
    more: bool  # records beyond this page match too

    @property
    def next(self) -> Position | None:
        """Where the next page starts, when there is one."""
        return self.attempts[-1].position if self.more and self.attempts else None


@dataclass(frozen=True, slots=True)
class Prune:
    """What one prune removes: records older than ``older_than`` (an ``at``), then the oldest
    beyond the newest ``keep_at_most``; and the per-minute sums of minutes before
    ``minutes_before`` (a ``TrafficRow.minute``; empty: none)."""

    older_than: str
    keep_at_most: int
    minutes_before: str = ""


class AttemptLog(Protocol):
    """Where attempt records are written in batches, read a page at a time, summed by
    destination and minute, and pruned."""

    async def add(self, attempts: Sequence[Attempt]) -> None:
        """Write every record or none."""
        ...

    async def find(self, query: AttemptQuery) -> AttemptPage: ...

    async def traffic(self, since: str) -> list[TrafficRow]:
        """Every destination's attempts from ``since`` on, by minute."""
        ...

    async def prune(self, rule: Prune) -> int:
        """Remove what ``rule`` says; returns how many records went."""
        ...


def matches(stored: Stored, query: AttemptQuery) -> bool:
    attempt = stored.attempt
    if any(getattr(attempt, name) != value for name, value in query.exact().items()):
        return False
    if query.since is not None and attempt.at < query.since:
        return False
    if query.until is not None and attempt.at > query.until:
        return False
    return query.before is None or stored.position < query.before


def survivors(records: Sequence[Stored], rule: Prune) -> list[Stored]:
    """The records ``rule`` keeps, oldest first: young enough, and among the newest."""
    young = sorted((r for r in records if r.attempt.at >= rule.older_than), key=_position)
    return young[max(0, len(young) - rule.keep_at_most) :]


def _position(stored: Stored) -> Position:
    return stored.position


class MemoryAttemptLog:
    def __init__(self) -> None:
        self._records: list[Stored] = []
        self._next_row = 1
        self._minutes_from = ""  # the sums of earlier minutes are forgotten

    async def add(self, attempts: Sequence[Attempt]) -> None:
        for attempt in attempts:
            self._records.append(Stored(self._next_row, attempt))
            self._next_row += 1

    async def find(self, query: AttemptQuery) -> AttemptPage:
        found = sorted((r for r in self._records if matches(r, query)), key=_position, reverse=True)
        return AttemptPage(found[: query.limit], more=len(found) > query.limit)

    async def traffic(self, since: str) -> list[TrafficRow]:
        since = max(since, self._minutes_from)
        return minute_rows(r.attempt for r in self._records if r.attempt.at >= since)

    async def prune(self, rule: Prune) -> int:
        self._minutes_from = max(self._minutes_from, rule.minutes_before)
        kept = survivors(self._records, rule)
        removed = len(self._records) - len(kept)
        self._records = kept
        return removed
