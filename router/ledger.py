"""Ids published lately, and whether RabbitMQ confirmed them, so a producer that sends an event
again with the same id is answered without publishing it twice.

A producer resends when it got no answer, or a 503 that named the id (a confirm that did not
come in time, a broker that started blocking publishers). If that id was confirmed in the last
``window`` seconds, the resend is answered 202 at once; if its publish is still waiting for the
confirm, the resend waits on that same publish. The ledger belongs to one process: a resend
that reaches another replica is published again, and receivers drop the duplicate by its id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# What a publish came to: True routed to a queue, False unroutable.
Confirm = asyncio.Future[bool]


class Ledger:
    def __init__(
        self, window: float, max_ids: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.max_ids = max_ids
        self.clock = clock
        self._confirmed: dict[str, tuple[float, bool]] = {}  # id -> (when, routed), oldest first
        self._pending: dict[str, Confirm] = {}

    def __len__(self) -> int:
        return len(self._confirmed)

    def confirmed(self, event_id: str) -> bool | None:
        """Whether ``event_id`` was routed, if it was confirmed within the window; else None."""
        self._expire()
        found = self._confirmed.get(event_id)
        return None if found is None else found[1]

    def pending(self, event_id: str) -> Confirm | None:
        return self._pending.get(event_id)

    def track(self, event_id: str, confirm: Confirm) -> None:
        """Follow a publish until its confirm comes, however long after its request ended."""
        self._pending[event_id] = confirm
        confirm.add_done_callback(lambda done: self._settle(event_id, done))

    def _settle(self, event_id: str, confirm: Confirm) -> None:
        if self._pending.get(event_id) is confirm:
            del self._pending[event_id]
        if confirm.cancelled() or confirm.exception() is not None:
            return  # not confirmed: a resend publishes it again
        self.record(event_id, confirm.result())

    def record(self, event_id: str, routed: bool) -> None:
        self._confirmed.pop(event_id, None)
        self._confirmed[event_id] = (self.clock(), routed)
        while len(self._confirmed) > self.max_ids:
            del self._confirmed[next(iter(self._confirmed))]

    def _expire(self) -> None:
        horizon = self.clock() - self.window
        while self._confirmed:
            oldest = next(iter(self._confirmed))
            if self._confirmed[oldest][0] >= horizon:
                return
            del self._confirmed[oldest]
