"""What a run amounts to: from the producer's and the sink's records, how many accepted events
arrived, how many were lost or came twice, how long the backlog took to drain and how long the
router refused events."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tests.reliability.load import LoadResult
from tests.reliability.sink import Delivery


class Receives(Protocol):
    """Anything deliveries are counted at: the webhook sink, an SQS queue, a Pusher channel."""

    @property
    def deliveries(self) -> Sequence[Delivery]: ...

    def delivered_ids(self) -> set[str]: ...

    async def wait_delivery(self, timeout: float) -> bool: ...


STEP = 0.2
MAX_ROUNDS = 1_000_000
COLUMNS = (
    "scenario",
    "accepted",
    "delivered",
    "lost",
    "duplicates (same id / new id)",
    "time to drain",
    "503 window",
    "longest request",
)


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario's numbers.

    ``delivered`` counts distinct accepted ids that arrived, ``lost`` accepted ids that never
    did, so ``delivered + lost == accepted``. ``duplicates_same_id`` counts deliveries beyond the
    first of an id; ``duplicates_new_id`` counts, per ``data.seq``, the distinct ids beyond the
    first it arrived under. ``unexpected`` counts distinct ids that arrived but were never
    accepted. ``drain_seconds`` runs from the end of the load to the last first delivery of an
    accepted id (0 when everything arrived before the load ended, ``None`` when nothing did).
    """

    scenario: str
    sent: int
    accepted: int
    delivered: int
    lost: int
    duplicates_same_id: int
    duplicates_new_id: int
    unexpected: int
    drain_seconds: float | None
    failure_window: float | None
    failing_seconds: float
    unavailable: int
    connection_errors: int
    longest_request: float
    lost_ids: tuple[str, ...] = ()

    @property
    def duplicates(self) -> int:
        return self.duplicates_same_id + self.duplicates_new_id

    def cells(self) -> list[str]:
        return [
            self.scenario,
            str(self.accepted),
            str(self.delivered),
            str(self.lost),
            f"{self.duplicates_same_id} / {self.duplicates_new_id}",
            _seconds(self.drain_seconds),
            self._window(),
            _seconds(self.longest_request),
        ]

    def _window(self) -> str:
        if self.failure_window is None:
            return "none"
        detail = [f"{self.unavailable} answers 503"]
        if self.connection_errors:
            detail.append(f"{self.connection_errors} connection errors")
        detail.append(f"failing {_seconds(self.failing_seconds)}")
        return f"{_seconds(self.failure_window)} ({', '.join(detail)})"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def tally(scenario: str, load: LoadResult, deliveries: Sequence[Delivery]) -> Row:
    accepted_ids = load.accepted_ids
    first_at: dict[str, float] = {}
    ids_of_seq: dict[int, set[str]] = {}
    same_id = 0
    for delivery in deliveries:
        if delivery.id in first_at:
            same_id += 1
        else:
            first_at[delivery.id] = delivery.at
        if delivery.seq is not None:
            ids_of_seq.setdefault(delivery.seq, set()).add(delivery.id)
    delivered = accepted_ids & first_at.keys()
    lost = accepted_ids - first_at.keys()
    new_id = sum(len(ids) - 1 for ids in ids_of_seq.values())
    last_first = max((first_at[i] for i in delivered), default=None)
    drain = None if last_first is None else max(0.0, last_first - load.finished_at)
    return Row(
        scenario=scenario,
        sent=sum(1 for s in load.sent if s.attempts),
        accepted=len(accepted_ids),
        delivered=len(delivered),
        lost=len(lost),
        duplicates_same_id=same_id,
        duplicates_new_id=new_id,
        unexpected=len(first_at.keys() - accepted_ids),
        drain_seconds=drain,
        failure_window=load.failure_window,
        failing_seconds=load.failing_seconds,
        unavailable=load.unavailable,
        connection_errors=load.connection_errors,
        longest_request=load.longest_request,
        lost_ids=tuple(sorted(lost)),
    )


def markdown_table(rows: Iterable[Row]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


async def wait_drained(
    sink: Receives, accepted_ids: Iterable[str], timeout: float, quiet: float = 0.0
) -> bool:
    """Wait until every accepted id was delivered (True) or ``timeout`` passed (False). With
    ``quiet``, once all arrived keep waiting until no delivery came for ``quiet`` seconds (still
    within ``timeout``), so that late duplicates are counted too."""
    wanted = set(accepted_ids)
    deadline = time.monotonic() + timeout
    # A round ends after STEP seconds or with a delivery; deliveries are finite, so the bound on
    # rounds never cuts a wait short that the deadline would allow.
    for _ in range(MAX_ROUNDS):
        if not wanted - sink.delivered_ids():
            break
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await sink.wait_delivery(min(STEP, left))
    else:
        return False
    for _ in range(MAX_ROUNDS if quiet > 0 else 0):
        left = deadline - time.monotonic()
        if left <= 0 or not await sink.wait_delivery(min(quiet, left)):
            break
    return True
