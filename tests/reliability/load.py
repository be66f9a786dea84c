"""A producer that behaves like a real platform: it hands events to the router at a steady rate
and, while the router answers 503 or cannot be reached, sends the same event with the same id
again until it is accepted or its time is up."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
import orjson

from schemas.ids import new_event_id

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Every attempt of one event together; a safety net under the deadline.
MAX_ATTEMPTS = 100_000


@dataclass(slots=True)
class Sent:
    """What became of one event: its id (the same on every attempt), whether the router
    accepted it with a 202, the last status seen (``None`` after a connection error)."""

    seq: int
    id: str
    accepted: bool = False
    attempts: int = 0
    status: int | None = None
    first_at: float | None = None
    accepted_at: float | None = None
    answered_id: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt: when it started and when the next attempt of the same event started
    (or, after the last one, when it ended), the status (``None``: connection error or timeout)
    and when the failure was seen."""

    start: float
    end: float
    status: int | None
    seen_at: float


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals."""
    total = 0.0
    current_start: float | None = None
    current_end = 0.0
    for start, end in sorted(intervals):
        if current_start is None or start > current_end:
            if current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None:
        total += current_end - current_start
    return total


@dataclass(slots=True)
class LoadResult:
    """Everything the producer saw; times are ``time.monotonic()`` values."""

    sent: list[Sent]
    started_at: float
    finished_at: float
    failures: list[Failure] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)  # answers other than 202, by body
    connection_errors: int = 0
    longest_request: float = 0.0

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.accepted]

    @property
    def accepted_ids(self) -> set[str]:
        return {s.id for s in self.sent if s.accepted}

    @property
    def unavailable(self) -> int:
        """How many 503 answers came back."""
        return self.statuses[503]

    @property
    def first_failure_at(self) -> float | None:
        return min((f.seen_at for f in self.failures), default=None)

    @property
    def last_failure_at(self) -> float | None:
        return max((f.seen_at for f in self.failures), default=None)

    @property
    def failure_window(self) -> float | None:
        """Seconds from the first failure (503 or connection error) seen to the last one;
        ``None`` when nothing failed."""
        first, last = self.first_failure_at, self.last_failure_at
        return None if first is None or last is None else last - first

    @property
    def failing_seconds(self) -> float:
        """Seconds during which at least one event was failing: the union of the time from
        each failed attempt to the next attempt of its event."""
        return union_seconds((f.start, f.end) for f in self.failures)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` given in seconds; ``None`` when absent or a date."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def event_body(event: str, event_id: str, seq: int, payload_bytes: int) -> bytes:
    data = {"seq": seq, "text": "x" * payload_bytes}
    return orjson.dumps({"event": event, "id": event_id, "data": data})


class Producer:
    """Posts ``count`` events to ``POST {base}/events/{instance}`` at ``rate`` events per
    second with at most ``concurrency`` requests in flight.

    An event answered 503 (or any of ``retry_statuses``), or whose request failed to connect or
    timed out after ``request_timeout``, is sent again (same body, same id) after the answer's
    ``Retry-After`` or ``retry_pause``, never more than ``max_retry_pause``, until it is accepted
    or ``deadline`` seconds after the run began. Other answers are final. Events not yet
    started when the deadline passes are never sent.
    """

    def __init__(
        self,
        base: str,
        instance: str,
        apikey: str,
        *,
        count: int,
        rate: float,
        concurrency: int = 32,
        deadline: float = 60.0,
        request_timeout: float = 10.0,
        retry_pause: float = 0.05,
        max_retry_pause: float = 0.2,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        event: str = "messages.upsert",
        payload_bytes: int = 64,
        first_seq: int = 0,
    ) -> None:
        if count < 0 or rate <= 0 or concurrency < 1:
            raise ValueError("count >= 0, rate > 0 and concurrency >= 1 are required")
        self.url = f"{base.rstrip('/')}/events/{instance}"
        self.apikey = apikey
        self.count = count
        self.rate = rate
        self.concurrency = concurrency
        self.deadline = deadline
        self.request_timeout = request_timeout
        self.retry_pause = retry_pause
        self.max_retry_pause = max_retry_pause
        self.retry_statuses = retry_statuses
        self.event = event
        self.payload_bytes = payload_bytes
        self.sent = [Sent(seq, new_event_id()) for seq in range(first_seq, first_seq + count)]
        self.result = LoadResult(self.sent, 0.0, 0.0)

    async def run(self) -> LoadResult:
        result = self.result
        result.started_at = time.monotonic()
        end_by = result.started_at + self.deadline
        slots = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        headers = {"apikey": self.apikey, "Content-Type": "application/json"}
        tasks: list[asyncio.Task[None]] = []
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=headers
        ) as session:
            try:
                for index, sent in enumerate(self.sent):
                    due = result.started_at + index / self.rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    if time.monotonic() >= end_by:
                        break
                    await slots.acquire()
                    task = asyncio.create_task(self._deliver(session, sent, end_by))
                    task.add_done_callback(lambda _t: slots.release())
                    tasks.append(task)
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        result.finished_at = time.monotonic()
        return result

    async def _deliver(self, session: aiohttp.ClientSession, sent: Sent, end_by: float) -> None:
        result = self.result
        body = event_body(self.event, sent.id, sent.seq, self.payload_bytes)
        for _ in range(MAX_ATTEMPTS):
            started = time.monotonic()
            if sent.first_at is None:
                sent.first_at = started
            sent.attempts += 1
            status: int | None = None
            retry_after: float | None = None
            answered: object = None
            try:
                async with asyncio.timeout(self.request_timeout + 1):
                    async with session.post(self.url, data=body) as response:
                        status = response.status
                        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                        raw = await response.read()
                        if status == 202:
                            answered = orjson.loads(raw).get("id")
                        else:
                            result.refusals[raw[:160].decode("utf-8", "replace")] += 1
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
                # Without a status the router was not reached or did not answer in time.
                pass
            ended = time.monotonic()
            result.longest_request = max(result.longest_request, ended - started)
            sent.status = status
            if status is None:
                result.connection_errors += 1
            else:
                result.statuses[status] += 1
            if status == 202:
                sent.accepted = True
                sent.accepted_at = ended
                sent.answered_id = answered if isinstance(answered, str) else None
                return
            if status is not None and status not in self.retry_statuses:
                return
            pause = min(
                retry_after if retry_after is not None else self.retry_pause, self.max_retry_pause
            )
            if ended + pause >= end_by:
                result.failures.append(Failure(started, ended, status, ended))
                return
            await asyncio.sleep(pause)
            result.failures.append(Failure(started, time.monotonic(), status, ended))
