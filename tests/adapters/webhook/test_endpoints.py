"""Per-receiver cap, waiting in memory and deferral to a turn, on a clock the test moves."""

from __future__ import annotations

import asyncio

import pytest

from adapters.webhook.breaker import Verdict
from adapters.webhook.endpoints import Deferral, Endpoints, Permit
from router.delivery.status import receiver_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(
    clock: Clock, cap: int = 2, threshold: int = 3, waiting: int = 2, wait: float = 5.0
) -> Endpoints:
    return Endpoints(
        cap,
        threshold,
        cooldown=lambda n: 10.0 * n,
        clock=clock,
        max_waiting=waiting,
        max_wait=wait,
    )


async def permit(endpoints: Endpoints, url: str) -> Permit:
    got = await endpoints.acquire(url)
    assert isinstance(got, Permit), got
    return got


def test_endpoints_are_origins() -> None:
    assert receiver_of("https://crm.example/hook/a") == "https://crm.example:443"
    assert receiver_of("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080"


async def test_an_event_over_the_cap_waits_in_memory_for_a_slot() -> None:
    endpoints = make(Clock())
    first = await permit(endpoints, "http://a/1")
    await permit(endpoints, "http://a/2")
    waiting = asyncio.create_task(endpoints.acquire("http://a/3"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert isinstance(await endpoints.acquire("http://b/1"), Permit)  # another receiver flows
    endpoints.release(first, Verdict.SUCCESS)
    assert isinstance(await asyncio.wait_for(waiting, 1), Permit)


async def test_past_the_waiting_limit_an_event_is_deferred_to_its_turn() -> None:
    clock = Clock()
    endpoints = make(clock, cap=2, waiting=1)
    for path in ("1", "2"):
        await permit(endpoints, f"http://a/{path}")
    state = endpoints.state("http://a:80")
    state.latency, state.answered = 1.0, 10  # the receiver's pace is known: a second a request
    waiter = asyncio.create_task(endpoints.acquire("http://a/3"))
    await asyncio.sleep(0.01)
    turns = []
    for _ in range(4):
        deferral = await endpoints.acquire("http://a/x")
        assert isinstance(deferral, Deferral)
        assert deferral.kind == "busy"
        turns.append(deferral.delay)
    # Two in flight and one waiting at half a second a slot: the first free turn is 1.5 s
    # away, and each next one half a second later, so they come back one by one.
    assert turns == pytest.approx([1.5, 2.0, 2.5, 3.0])
    waiter.cancel()


async def test_a_waiter_that_is_cancelled_passes_its_turn_on() -> None:
    endpoints = make(Clock(), cap=1, waiting=2)
    held = await permit(endpoints, "http://a/1")
    first = asyncio.create_task(endpoints.acquire("http://a/2"))
    second = asyncio.create_task(endpoints.acquire("http://a/3"))
    await asyncio.sleep(0.01)
    endpoints.release(held, Verdict.SUCCESS)
    first.cancel()  # woken, but its delivery was cancelled before it could go
    with pytest.raises(asyncio.CancelledError):
        await first
    assert isinstance(await asyncio.wait_for(second, 1), Permit)


async def test_waiting_ends_after_max_wait_with_a_deferral() -> None:
    endpoints = make(Clock(), cap=1, waiting=2, wait=0.05)
    await permit(endpoints, "http://a/1")
    got = await asyncio.wait_for(endpoints.acquire("http://a/2"), 1)
    assert isinstance(got, Deferral)
    assert not endpoints.state("http://a:80").waiters


async def test_behind_an_open_breaker_events_wait_for_the_cool_down_then_one_probes() -> None:
    clock = Clock()
    endpoints = make(clock, cap=10, threshold=3, waiting=2)
    for _ in range(3):
        endpoints.release(await permit(endpoints, "http://a/"), Verdict.FAILURE)
    deferral = await endpoints.acquire("http://a/")
    assert isinstance(deferral, Deferral)
    assert deferral.kind == "open"
    assert deferral.delay >= 10.0
    clock.now += 10.5
    probe = await permit(endpoints, "http://a/")
    assert probe.probe
    behind = asyncio.create_task(endpoints.acquire("http://a/"))  # waits for the verdict
    await asyncio.sleep(0.01)
    assert not behind.done()
    endpoints.release(probe, Verdict.FAILURE)
    reopened = await asyncio.wait_for(behind, 1)
    assert isinstance(reopened, Deferral)
    assert reopened.delay >= 20.0  # the cool-down grows
    clock.now += 21
    probe = await permit(endpoints, "http://a/")
    assert probe.probe
    behind = asyncio.create_task(endpoints.acquire("http://a/"))
    await asyncio.sleep(0.01)
    endpoints.release(probe, Verdict.SUCCESS)
    after = await asyncio.wait_for(behind, 1)
    assert isinstance(after, Permit)
    assert not after.probe
    assert endpoints.state("http://a:80").breaker.closed


async def test_a_probe_cut_short_never_leaves_the_breaker_stuck() -> None:
    clock = Clock()
    endpoints = make(clock, cap=10, threshold=1)
    endpoints.release(await permit(endpoints, "http://a/"), Verdict.FAILURE)
    clock.now += 10.5
    probe = await permit(endpoints, "http://a/")
    endpoints.release(probe, Verdict.NEUTRAL)
    again = await permit(endpoints, "http://a/")
    assert again.probe


async def test_before_its_pace_is_known_an_event_is_deferred_briefly() -> None:
    endpoints = make(Clock(), cap=1, waiting=0)
    await permit(endpoints, "http://a/1")
    deferral = await endpoints.acquire("http://a/2")
    assert isinstance(deferral, Deferral)
    assert deferral.delay == 1.0  # no turn reserved on a guess


async def test_an_event_back_before_its_turn_keeps_it() -> None:
    wall = Clock()
    wall.now = 1_000_000.0
    endpoints = Endpoints(1, 3, cooldown=lambda n: 10.0, clock=Clock(), max_waiting=0, wall=wall)
    await permit(endpoints, "http://a/1")
    state = endpoints.state("http://a:80")
    state.latency, state.answered = 10.0, 5
    first = await endpoints.acquire("http://a/x")
    assert isinstance(first, Deferral)
    assert first.due == wall.now + first.delay
    reserved = state.next_turn
    wall.now += first.delay * 0.8  # the delay queues rounded its delay down: back early
    again = await endpoints.acquire("http://a/x", due=first.due)
    assert isinstance(again, Deferral)
    assert again.due == first.due  # the same turn, for the rest of the time
    assert again.delay == pytest.approx(first.delay * 0.2)
    assert state.next_turn == reserved  # and no new turn taken from the others


async def test_when_the_probe_succeeds_every_waiter_gets_a_slot_at_once() -> None:
    clock = Clock()
    endpoints = make(clock, cap=4, threshold=1, waiting=6)
    endpoints.release(await permit(endpoints, "http://a/"), Verdict.FAILURE)
    clock.now += 10.5
    probe = await permit(endpoints, "http://a/")
    behind = [asyncio.create_task(endpoints.acquire("http://a/")) for _ in range(6)]
    await asyncio.sleep(0.01)
    endpoints.release(probe, Verdict.SUCCESS)
    await asyncio.sleep(0.01)
    done = [t for t in behind if t.done()]
    assert len(done) == 4  # the cap, without waiting out max_wait
    assert all(isinstance(t.result(), Permit) for t in done)
    for task in behind:
        task.cancel()
    await asyncio.gather(*behind, return_exceptions=True)


async def test_a_newcomer_never_jumps_the_line() -> None:
    endpoints = make(Clock(), cap=1, waiting=2)
    held = await permit(endpoints, "http://a/1")
    first = asyncio.create_task(endpoints.acquire("http://a/2"))
    await asyncio.sleep(0.01)
    endpoints.release(held, Verdict.SUCCESS)  # the slot is handed to the one waiting
    newcomer = asyncio.create_task(endpoints.acquire("http://a/3"))
    await asyncio.sleep(0.01)
    handed = first.result()
    assert isinstance(handed, Permit)
    assert not newcomer.done()  # behind the line, not ahead of it
    endpoints.release(handed, Verdict.SUCCESS)
    assert isinstance(await asyncio.wait_for(newcomer, 1), Permit)
    assert endpoints.state("http://a:80").in_flight == 1


async def test_an_event_whose_turn_came_while_the_line_is_full_takes_a_turn_that_counts() -> None:
    endpoints = make(Clock(), cap=1, waiting=0)
    await permit(endpoints, "http://a/1")
    state = endpoints.state("http://a:80")
    state.latency, state.answered = 1.0, 5
    late = await endpoints.acquire("http://a/x", due=endpoints.wall() - 3)
    assert isinstance(late, Deferral)
    assert late.delay == pytest.approx(1.0)  # after the one in flight
    following = await endpoints.acquire("http://a/y")
    assert isinstance(following, Deferral)
    assert following.delay == pytest.approx(2.0)  # the schedule counted the late one


async def test_states_say_how_each_receiver_stands_through_open_and_probe() -> None:
    clock = Clock()
    endpoints = make(clock, threshold=2)
    url = "http://crm.example/hook"
    assert endpoints.states() == []
    first = await permit(endpoints, url)
    (state,) = endpoints.states()
    assert (state.receiver, state.in_flight, state.breaker) == (
        "http://crm.example:80",
        1,
        "closed",
    )
    assert state.latency_ms is None  # no answer yet
    clock.now += 0.25
    endpoints.release(first, Verdict.FAILURE)
    endpoints.release(await permit(endpoints, url), Verdict.FAILURE)
    (state,) = endpoints.states()
    assert (state.in_flight, state.breaker, state.reopens_in) == (0, "open", 10.0)
    assert state.latency_ms == 200.0  # 250 ms, then 0 ms weighted by a fifth
    clock.now += 10.0  # past the cool-down: the next request probes
    probe = await permit(endpoints, url)
    assert endpoints.states()[0].breaker == "probing"
    endpoints.release(probe, Verdict.SUCCESS)
    (state,) = endpoints.states()
    assert (state.breaker, state.reopens_in) == ("closed", None)
