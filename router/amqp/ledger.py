"""Ids published lately, and whether RabbitMQ confirmed them, so a producer that sends an event
again with the same id is answered without publishing it twice.

A producer resends when it got no answer, or a 503 that named the id (a confirm that did not
come in time, a broker that started blocking publishers). If that id was confirmed in the last
``window`` seconds (under the same routing key: the same instance and event), the resend is
answered 202 at once; if its publish is still waiting for the
confirm, the resend waits on that same publish. The ledger belongs to one process: a resend
that reaches another replica is published again, and receivers drop the duplicate by its id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# What a publish came to: True routed to a queue, False unroutable.
Confirm = asyncio.Future[bool]
Key = tuple[
    str, str
]  # (event id, routing key): the same id for another instance or event is not the same event


class Ledger:
    def __init__(
        self, window: float, max_ids: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.max_ids = max_ids
        self.clock = clock
        self._confirmed: dict[Key, float] = {}  # when each was confirmed, oldest first
        self._pending: dict[Key, Confirm] = {}

    def __len__(self) -> int:
        return len(self._confirmed)

    def confirmed(self, key: Key) -> bool:
        """Whether ``key`` was confirmed, and routed to a queue, within the window."""
        self._expire()
        return key in self._confirmed

    def pending(self, key: Key) -> Confirm | None:
        return self._pending.get(key)

    def track(self, key: Key, confirm: Confirm) -> None:
        """Follow a publish until its confirm comes, however long after its request ended."""
        self._pending[key] = confirm
        confirm.add_done_callback(lambda done: self._settle(key, done))

    def _settle(self, key: Key, confirm: Confirm) -> None:
        if self._pending.get(key) is confirm:
            del self._pending[key]
        if confirm.cancelled() or confirm.exception() is not None:
            return  # not confirmed: a resend publishes it again
        if confirm.result():
            self.record(key)
        # Unroutable: not remembered, so a resend once a queue wants it is published.

    def record(self, key: Key) -> None:
        self._confirmed.pop(key, None)
        self._confirmed[key] = self.clock()
        while len(self._confirmed) > self.max_ids:
            del self._confirmed[next(iter(self._confirmed))]

    def _expire(self) -> None:
        horizon = self.clock() - self.window
        while self._confirmed:
            oldest = next(iter(self._confirmed))
            if self._confirmed[oldest] >= horizon:
                return
            del self._confirmed[oldest]
