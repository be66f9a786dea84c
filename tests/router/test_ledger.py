"""The ledger of lately confirmed ids: a resend is answered from it within the window, and only
then; a publish that failed is forgotten; memory stays bounded."""

from __future__ import annotations

import asyncio

from router.ledger import Ledger


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_confirmed_id_is_known_until_the_window_has_passed() -> None:
    clock = Clock()
    ledger = Ledger(window=300, max_ids=10, clock=clock)
    ledger.record("a", routed=True)
    ledger.record("b", routed=False)
    clock.now += 299
    assert ledger.confirmed("a") is True
    assert ledger.confirmed("b") is False  # unroutable is an answer too
    clock.now += 2  # past the window
    assert ledger.confirmed("a") is None
    assert len(ledger) == 0


def test_the_oldest_ids_go_first_when_the_ledger_is_full() -> None:
    ledger = Ledger(window=300, max_ids=3, clock=Clock())
    for name in "abcd":
        ledger.record(name, routed=True)
    assert ledger.confirmed("a") is None
    assert [ledger.confirmed(n) for n in "bcd"] == [True, True, True]


async def test_a_pending_publish_is_followed_until_its_confirm() -> None:
    ledger = Ledger(window=300, max_ids=10)
    confirm: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    ledger.track("late", confirm)
    assert ledger.pending("late") is confirm
    assert ledger.confirmed("late") is None
    confirm.set_result(True)
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert ledger.pending("late") is None
    assert ledger.confirmed("late") is True


async def test_a_publish_that_failed_is_forgotten() -> None:
    ledger = Ledger(window=300, max_ids=10)
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[bool] = loop.create_future()
    cancelled: asyncio.Future[bool] = loop.create_future()
    ledger.track("nacked", failed)
    ledger.track("cut", cancelled)
    failed.set_exception(RuntimeError("nack"))
    cancelled.cancel()
    await asyncio.sleep(0)
    assert ledger.pending("nacked") is None
    assert ledger.confirmed("nacked") is None
    assert ledger.confirmed("cut") is None
    failed.exception()  # retrieved, so no "never retrieved" warning


def test_a_window_of_zero_remembers_nothing() -> None:
    clock = Clock()
    ledger = Ledger(window=0, max_ids=10, clock=clock)
    ledger.record("a", routed=True)
    clock.now += 0.001
    assert ledger.confirmed("a") is None
