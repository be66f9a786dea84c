"""The ledger of lately confirmed ids: a resend is answered from it within the window, and only
then; a publish that failed, or that no queue took, is forgotten; memory stays bounded."""

from __future__ import annotations

import asyncio

from router.amqp.ledger import Ledger

A = ("id-a", "shop.messages.upsert")
B = ("id-b", "shop.call")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_confirmed_id_is_known_until_the_window_has_passed() -> None:
    clock = Clock()
    ledger = Ledger(window=300, max_ids=10, clock=clock)
    ledger.record(A)
    clock.now += 299
    assert ledger.confirmed(A)
    clock.now += 2  # past the window
    assert not ledger.confirmed(A)
    assert len(ledger) == 0


def test_the_same_id_for_another_instance_or_event_is_another_event() -> None:
    ledger = Ledger(window=300, max_ids=10)
    ledger.record(A)
    assert not ledger.confirmed(("id-a", "other.messages.upsert"))


def test_the_oldest_ids_go_first_when_the_ledger_is_full() -> None:
    ledger = Ledger(window=300, max_ids=3, clock=Clock())
    keys = [(name, "k") for name in "abcd"]
    for key in keys:
        ledger.record(key)
    assert not ledger.confirmed(keys[0])
    assert all(ledger.confirmed(key) for key in keys[1:])


async def test_a_pending_publish_is_followed_until_its_confirm() -> None:
    ledger = Ledger(window=300, max_ids=10)
    confirm: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    ledger.track(A, confirm)
    assert ledger.pending(A) is confirm
    assert not ledger.confirmed(A)
    confirm.set_result(True)
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert ledger.pending(A) is None
    assert ledger.confirmed(A)


async def test_a_publish_that_failed_or_went_nowhere_is_forgotten() -> None:
    ledger = Ledger(window=300, max_ids=10)
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[bool] = loop.create_future()
    cancelled: asyncio.Future[bool] = loop.create_future()
    unroutable: asyncio.Future[bool] = loop.create_future()
    ledger.track(A, failed)
    ledger.track(B, cancelled)
    ledger.track(("id-c", "k"), unroutable)
    failed.set_exception(RuntimeError("nack"))
    cancelled.cancel()
    unroutable.set_result(False)  # no queue wanted it: a resend once one does is published
    await asyncio.sleep(0)
    assert ledger.pending(A) is None
    assert not ledger.confirmed(A)
    assert not ledger.confirmed(B)
    assert not ledger.confirmed(("id-c", "k"))
    failed.exception()  # retrieved, so no "never retrieved" warning


def test_a_window_of_zero_remembers_nothing() -> None:
    clock = Clock()
    ledger = Ledger(window=0, max_ids=10, clock=clock)
    ledger.record(A)
    clock.now += 0.001
    assert not ledger.confirmed(A)
