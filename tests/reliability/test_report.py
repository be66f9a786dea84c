"""The arithmetic of a run's row, on records made by hand."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.reliability.load import Failure, LoadResult, Sent, union_seconds
from tests.reliability.report import Row, markdown_table, tally, wait_drained
from tests.reliability.sink import Delivery, Sink, parse_delivery


def accepted(seq: int, event_id: str) -> Sent:
    return Sent(seq, event_id, accepted=True, attempts=1, status=202, answered_id=event_id)


def test_union_of_intervals() -> None:
    assert union_seconds([]) == 0
    assert union_seconds([(1, 3), (2, 4), (6, 7)]) == pytest.approx(4)
    assert union_seconds([(5, 6), (1, 10)]) == pytest.approx(9)
    assert union_seconds([(1, 2), (2, 3)]) == pytest.approx(2)


def test_row_counts_loss_duplicates_and_drain() -> None:
    sent = [
        accepted(0, "a"),
        accepted(1, "b"),
        accepted(2, "c"),
        Sent(3, "d", attempts=4, status=503),
        Sent(4, "e"),  # never sent: the deadline came first
    ]
    load = LoadResult(
        sent,
        started_at=0.0,
        finished_at=10.0,
        failures=[
            Failure(1.0, 3.0, 503, 1.5),
            Failure(2.0, 2.5, None, 2.5),
            Failure(5.0, 6.0, 503, 5.25),
        ],
        statuses=Counter({202: 3, 503: 2}),
        connection_errors=1,
        longest_request=0.75,
    )
    deliveries = [
        Delivery("a", 0, 9.0),
        Delivery("a", 0, 11.0),  # the same id again
        Delivery("b", 1, 12.0),
        Delivery("b2", 1, 13.0),  # the same event under a new id
        Delivery("a", 0, 14.0),
    ]
    row = tally("mixed", load, deliveries)
    assert (row.scenario, row.sent, row.accepted, row.delivered, row.lost) == ("mixed", 4, 3, 2, 1)
    assert (row.duplicates_same_id, row.duplicates_new_id, row.unexpected) == (2, 1, 1)
    assert row.lost_ids == ("c",)
    # b is the last first delivery of an accepted id: 12 s, two after the load ended
    assert row.drain_seconds == pytest.approx(2.0)
    assert row.failure_window == pytest.approx(5.25 - 1.5)
    assert row.failing_seconds == pytest.approx(3.0)  # 1..3 and 5..6
    assert (row.unavailable, row.connection_errors, row.longest_request) == (2, 1, 0.75)
    assert row.delivered + row.lost == row.accepted
    assert row.duplicates == 3


def test_drain_is_zero_when_everything_arrived_during_the_load_and_none_without_deliveries() -> (
    None
):
    load = LoadResult([accepted(0, "a"), accepted(1, "b")], started_at=0.0, finished_at=10.0)
    early = tally("early", load, [Delivery("a", 0, 3.0), Delivery("b", 1, 9.5)])
    assert early.drain_seconds == 0.0
    assert early.lost == 0
    assert early.failure_window is None
    assert early.failing_seconds == 0.0
    nothing = tally("nothing", load, [])
    assert nothing.drain_seconds is None
    assert nothing.lost == 2
    assert nothing.lost_ids == ("a", "b")


def test_deliveries_without_seq_count_only_by_id() -> None:
    load = LoadResult([accepted(0, "a")], started_at=0.0, finished_at=1.0)
    row = tally("no seq", load, [Delivery("a", None, 1.0), Delivery("x", None, 2.0)])
    assert (row.delivered, row.duplicates_new_id, row.unexpected) == (1, 0, 1)


def test_markdown_table() -> None:
    quiet = Row("no faults", 300, 300, 300, 0, 0, 0, 0, 0.4, None, 0.0, 0, 0, 0.031)
    broken = Row("broker restart", 300, 298, 297, 1, 2, 0, 0, 12.5, 6.25, 5.5, 41, 3, 1.2)
    table = markdown_table([quiet, broken])
    assert table.splitlines() == [
        "| scenario | accepted | delivered | lost | duplicates (same id / new id) "
        "| time to drain | 503 window | longest request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        "| no faults | 300 | 300 | 0 | 0 / 0 | 0.40 s | none | 0.03 s |",
        "| broker restart | 298 | 297 | 1 | 2 / 0 | 12.50 s "
        "| 6.25 s (41 answers 503, 3 connection errors, failing 5.50 s) | 1.20 s |",
    ]


def test_parse_delivery_reads_id_and_seq() -> None:
    assert parse_delivery(b'{"id": "x", "data": {"seq": 7}}', 1.0) == Delivery("x", 7, 1.0)
    assert parse_delivery(b'{"id": "x", "data": {"seq": true}}', 1.0) == Delivery("x", None, 1.0)
    assert parse_delivery(b'{"id": 5, "data": [1]}', 1.0) == Delivery("", None, 1.0)
    assert parse_delivery(b"not json", 2.0) == Delivery("", None, 2.0)


async def test_wait_drained_returns_once_all_arrived_and_gives_up_at_the_timeout() -> None:
    sink = Sink()  # never started: deliveries are added by hand

    async def arrive() -> None:
        await asyncio.sleep(0.3)
        sink.deliveries.append(Delivery("a", 0, 0.0))
        await asyncio.sleep(0.1)
        sink.deliveries.append(Delivery("b", 1, 0.0))

    task = asyncio.create_task(arrive())
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await wait_drained(sink, {"a", "b"}, timeout=5)
    assert 0.3 <= loop.time() - started < 2
    await task

    started = loop.time()
    assert not await wait_drained(sink, {"a", "c"}, timeout=0.5)
    assert 0.5 <= loop.time() - started < 1.5
