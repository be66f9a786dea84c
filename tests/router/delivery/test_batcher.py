"""Batching rules and partial failures, with a recording stand-in for SendMessageBatch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from router.delivery.batcher import Batcher


class Recorder:
    def __init__(self, fail_ids: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []
        self.fail_ids = fail_ids

    async def __call__(self, queue: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append((queue, list(entries)))
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "Message": "try later", "SenderFault": False}
            for e in entries
            if e["MessageBody"] in self.fail_ids
        ]
        failed_ids = {f["Id"] for f in failed}
        ok = [{"Id": e["Id"]} for e in entries if e["Id"] not in failed_ids]
        return {"Successful": ok, "Failed": failed}


async def test_ten_per_batch_and_one_batch_per_queue() -> None:
    record = Recorder()
    batcher = Batcher(record, window=0.05, max_bytes=1_000_000)
    sends = [batcher.send("a", {"MessageBody": f"a{i}"}, 10) for i in range(25)]
    sends += [batcher.send("b", {"MessageBody": f"b{i}"}, 10) for i in range(3)]
    results = await asyncio.gather(*sends)
    assert all(r.ok for r in results)
    sizes = sorted((q, len(entries)) for q, entries in record.calls)
    assert sizes == [("a", 5), ("a", 10), ("a", 10), ("b", 3)]


async def test_the_size_limit_splits_batches() -> None:
    record = Recorder()
    batcher = Batcher(record, window=0.05, max_bytes=250)
    await asyncio.gather(*(batcher.send("a", {"MessageBody": str(i)}, 100) for i in range(5)))
    assert [len(entries) for _, entries in record.calls] == [2, 2, 1]


async def test_a_failed_entry_fails_alone() -> None:
    record = Recorder(fail_ids=frozenset({"m2"}))
    batcher = Batcher(record, window=0.01, max_bytes=1_000_000)
    results = await asyncio.gather(
        *(batcher.send("a", {"MessageBody": f"m{i}"}, 1) for i in range(4))
    )
    assert [r.ok for r in results] == [True, True, False, True]
    assert results[2].code == "InternalError"
    assert results[2].sender_fault is False


async def test_a_failed_call_fails_every_entry_of_the_batch() -> None:
    async def broken(queue: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        raise ConnectionError("down")

    batcher = Batcher(broken, window=0.01, max_bytes=1_000_000)
    results = await asyncio.gather(
        *(batcher.send("a", {"MessageBody": "x"}, 1) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_an_entry_the_answer_does_not_mention_is_not_taken_as_sent() -> None:
    async def forgetful(queue: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"Successful": [{"Id": entries[0]["Id"]}], "Failed": []}

    batcher = Batcher(forgetful, window=0.01, max_bytes=1_000_000)
    results = await asyncio.gather(
        *(batcher.send("a", {"MessageBody": str(i)}, 1) for i in range(2))
    )
    assert [r.ok for r in results] == [True, False]
    assert results[1].code == "NoAnswer"


async def test_a_cancelled_caller_is_not_sent() -> None:
    record = Recorder()
    batcher = Batcher(record, window=0.05, max_bytes=1_000_000)
    task = asyncio.ensure_future(batcher.send("a", {"MessageBody": "gone"}, 1))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kept = await batcher.send("a", {"MessageBody": "kept"}, 1)
    assert kept.ok
    assert [e["MessageBody"] for _, entries in record.calls for e in entries] == ["kept"]


async def test_one_bad_entry_is_found_by_sending_each_alone() -> None:
    class BadEntry(Exception):
        pass

    calls: list[int] = []

    async def picky(queue: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        calls.append(len(entries))
        if any(e["MessageBody"] == "bad" for e in entries):
            raise BadEntry("invalid contents")
        return {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}

    batcher = Batcher(
        picky, window=0.01, max_bytes=1_000_000, entry_fault=lambda e: isinstance(e, BadEntry)
    )
    results = await asyncio.gather(
        *(batcher.send("a", {"MessageBody": b}, 1) for b in ("ok1", "bad", "ok2")),
        return_exceptions=True,
    )
    assert [getattr(r, "ok", None) for r in results] == [True, None, True]
    assert isinstance(results[1], BadEntry)
    assert calls == [3, 1, 1, 1]


async def test_close_resolves_everything_waiting() -> None:
    from router.delivery.batcher import BatcherClosed

    batcher = Batcher(Recorder(), window=10, max_bytes=1_000_000)
    waiting = asyncio.ensure_future(batcher.send("a", {"MessageBody": "x"}, 1))
    await asyncio.sleep(0.01)
    await batcher.close()
    results = await asyncio.gather(waiting, return_exceptions=True)
    assert isinstance(results[0], BatcherClosed)
