"""The per-receiver line under any interleaving Hypothesis can find: events ask for slots, get
cancelled while they wait, end with any verdict, and time moves on. Slots are never lost or
counted twice, nobody waits while a slot is free, and everything comes back at the end."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.webhook.breaker import Verdict
from adapters.webhook.endpoints import Deferral, Endpoints, Permit

CAP = 2
URL = "http://receiver/hook"

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("ask"), st.integers(0, 0)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
        st.tuples(st.sampled_from(["success", "failure", "neutral"]), st.integers(0, 50)),
        st.tuples(st.just("time"), st.integers(1, 30)),
        # A slot handed over, and the one it was handed to cancelled before it could run.
        st.tuples(st.just("handoff"), st.integers(0, 50)),
    ),
    max_size=60,
)
VERDICTS = {"success": Verdict.SUCCESS, "failure": Verdict.FAILURE, "neutral": Verdict.NEUTRAL}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def play(script: list[Step]) -> None:
    clock = Clock()
    endpoints = Endpoints(
        CAP, 2, cooldown=lambda n: 5.0 * n, clock=clock, max_waiting=3, max_wait=60
    )
    state = endpoints.state("http://receiver:80")
    asking: list[asyncio.Task[Permit | Deferral]] = []
    held: list[Permit] = []

    def collect() -> None:
        for task in [t for t in asking if t.done()]:
            asking.remove(task)
            result = None if task.cancelled() else task.result()
            if isinstance(result, Permit):
                held.append(result)

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        collect()

    for action, n in script:
        if action == "ask":
            asking.append(asyncio.create_task(endpoints.acquire(URL)))
        elif action == "cancel" and asking:
            asking[n % len(asking)].cancel()
        elif action in VERDICTS and held:
            endpoints.release(held.pop(n % len(held)), VERDICTS[action])
        elif action == "time":
            clock.now += n
        elif action == "handoff" and held and asking:
            endpoints.release(held.pop(n % len(held)), Verdict.SUCCESS)
            asking[n % len(asking)].cancel()
        await settle()
        probes = sum(1 for p in held if p.probe)
        assert state.in_flight == len(held), (state.in_flight, held)
        assert len(held) <= CAP + probes
        if state.breaker.closed and state.in_flight < CAP:
            assert not [w for w in state.waiters if not w.done()], "waiting beside a free slot"

    for task in asking:
        task.cancel()
    await asyncio.gather(*asking, return_exceptions=True)
    collect()
    for permit in held:
        endpoints.release(permit, Verdict.NEUTRAL)
    await settle()
    # Slots handed to waiters cancelled at that moment were given back by them.
    assert state.in_flight == 0
    assert not state.waiters
    assert state.waiting_bytes == 0


@settings(max_examples=300, deadline=None)
@given(script=steps)
def test_slots_are_never_lost_under_any_interleaving(script: list[Step]) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(play(script))
    finally:
        loop.close()
