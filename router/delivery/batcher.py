"""Coalescing for destinations with batch calls (SQS SendMessageBatch, Pusher trigger_batch):
entries for one key (a queue, an app) within a short window share one call, at most 10 entries
and a size limit; each caller gets its own entry's result.

``send_batch`` answers in SQS's shape, ``{"Successful": [{"Id"}], "Failed": [{"Id", "Code",
"Message", "SenderFault"}]}``; an entry it does not list is not taken as sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_ENTRIES = 10


@dataclass(frozen=True, slots=True)
class EntryResult:
    ok: bool
    code: str | None = None
    message: str | None = None
    sender_fault: bool = False


@dataclass(slots=True)
class Pending:
    entry: dict[str, Any]
    size: int
    result: asyncio.Future[EntryResult]


SendBatch = Callable[[str, Sequence[dict[str, Any]]], Awaitable[dict[str, Any]]]
# Whether a failed call was caused by one of its entries (then each is sent alone).
EntryFault = Callable[[BaseException], bool]


class BatcherClosed(RuntimeError):
    pass


class Batcher:
    def __init__(
        self,
        send_batch: SendBatch,
        window: float,
        max_bytes: int,
        entry_fault: EntryFault = lambda _: False,
        on_batch: Callable[[int], None] = lambda _: None,
    ) -> None:
        self.on_batch = on_batch  # told the size of each batch sent, for metrics
        self.send_batch = send_batch
        self.entry_fault = entry_fault
        self._closed = False
        self.window = window
        self.max_bytes = max_bytes
        self._pending: dict[str, list[Pending]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._flushing: set[str] = set()

    async def send(self, queue: str, entry: dict[str, Any], size: int) -> EntryResult:
        if self._closed:
            raise BatcherClosed("the adapter is closing")
        waiting = Pending(entry, size, asyncio.get_running_loop().create_future())
        self._pending.setdefault(queue, []).append(waiting)
        self._schedule(queue)
        try:
            return await waiting.result
        except asyncio.CancelledError:
            # The caller gave up (timeout, shutdown) and will retry: not sent now, or twice.
            pending = self._pending.get(queue, [])
            if waiting in pending:
                pending.remove(waiting)
            raise

    def _full(self, queue: str) -> bool:
        pending = self._pending.get(queue, [])
        return len(pending) >= MAX_ENTRIES or sum(p.size for p in pending) >= self.max_bytes

    def _schedule(self, queue: str) -> None:
        """A full batch goes now; a partial one when the window ends. One flush at a time per
        queue, so late arrivals join the next batch rather than forming small ones."""
        if self._closed or queue in self._flushing or not self._pending.get(queue):
            return
        if self._full(queue):
            self._flush_soon(queue)
        elif queue not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[queue] = loop.call_later(self.window, self._flush_soon, queue)

    def _flush_soon(self, queue: str) -> None:
        timer = self._timers.pop(queue, None)
        if timer is not None:
            timer.cancel()
        self._flushing.add(queue)
        task = asyncio.get_running_loop().create_task(self._flush(queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take(self, queue: str) -> list[Pending]:
        pending = self._pending.get(queue, [])
        batch: list[Pending] = []
        size = 0
        while pending and len(batch) < MAX_ENTRIES:
            if batch and size + pending[0].size > self.max_bytes:
                break
            size += pending[0].size
            batch.append(pending.pop(0))
        if not pending:
            self._pending.pop(queue, None)
        return batch

    async def _flush(self, queue: str) -> None:
        batch = self._take(queue)
        self._flushing.discard(queue)
        self._schedule(queue)  # what did not fit: at once if full, else after the window
        if not batch:
            return
        entries = [{**p.entry, "Id": str(i)} for i, p in enumerate(batch)]
        self.on_batch(len(entries))
        try:
            answer = await self.send_batch(queue, entries)
        except Exception as exc:
            if len(batch) > 1 and self.entry_fault(exc):
                # One bad entry must not fail the others: each goes alone.
                for i, p in enumerate(batch):
                    await self._send_alone(queue, entries[i], p)
                return
            for p in batch:
                if not p.result.done():
                    p.result.set_exception(exc)
            return
        self._settle(batch, answer)

    async def _send_alone(self, queue: str, entry: dict[str, Any], pending: Pending) -> None:
        try:
            answer = await self.send_batch(queue, [{**entry, "Id": "0"}])
        except Exception as exc:
            if not pending.result.done():
                pending.result.set_exception(exc)
            return
        self._settle([pending], answer)

    def _settle(self, batch: list[Pending], answer: dict[str, Any]) -> None:
        failed = {str(f["Id"]): f for f in answer.get("Failed", [])}
        succeeded = {str(s["Id"]) for s in answer.get("Successful", [])}
        for i, p in enumerate(batch):
            if p.result.done():
                continue
            failure = failed.get(str(i))
            if str(i) in succeeded:
                p.result.set_result(EntryResult(ok=True))
            elif failure is None:
                # Neither accepted nor refused: not proven sent, so it is tried again.
                p.result.set_result(
                    EntryResult(ok=False, code="NoAnswer", message="not in the answer")
                )
            else:
                p.result.set_result(
                    EntryResult(
                        ok=False,
                        code=str(failure.get("Code")),
                        message=str(failure.get("Message", "")),
                        sender_fault=bool(failure.get("SenderFault")),
                    )
                )

    async def close(self) -> None:
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for pending in self._pending.values():
            for p in pending:
                if not p.result.done():
                    p.result.set_exception(BatcherClosed("the adapter closed before sending"))
        self._pending.clear()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
