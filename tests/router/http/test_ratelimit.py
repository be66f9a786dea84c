"""Per-instance ingest rates: the token bucket's arithmetic, then ingest answering 429 to one
instance while another is accepted, and accepting again once the wait it named has passed."""

from __future__ import annotations

import asyncio

import pytest

from router.http.ratelimit import TokenBuckets, retry_after
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app

AUTH = {"apikey": API_KEY}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, clock)
    assert [buckets.take("a") for _ in range(10)] == [0.0] * 10
    assert buckets.take("a") == pytest.approx(0.1)
    assert buckets.take("b") == 0.0  # another instance has a bucket of its own
    clock.now += 0.25
    assert buckets.take("a", 2) == 0.0  # 2.5 tokens came back
    assert buckets.take("a") == pytest.approx(0.05)


def test_a_batch_larger_than_the_burst_goes_when_full_and_is_paid_back() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, clock)
    assert buckets.take("a", 25) == 0.0  # full: let in, 15 owed
    assert buckets.take("a") == pytest.approx(1.6)  # 15 owed plus the one asked for
    clock.now += 1.61
    assert buckets.take("a") == 0.0


def test_the_idlest_buckets_are_forgotten_past_the_bound() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, clock, max_buckets=2)
    for key in ("a", "b", "c"):
        assert buckets.take(key) == 0.0
    assert buckets.take("a") == 0.0  # forgotten, so full again
    assert buckets.take("c") == pytest.approx(1.0)


def test_a_rate_must_be_positive_and_waits_round_up() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBuckets(0)
    assert (retry_after(0.01), retry_after(1.0), retry_after(1.2)) == ("1", "1", "2")


async def test_one_noisy_instance_gets_429_while_another_is_accepted(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    settings = router_settings(amqp_url, exchange_name, router={"ingest_rate_per_instance": 4})
    async with running_app(settings, ["ingest"]) as client:

        async def post(instance: str) -> tuple[int, str | None, dict[str, object]]:
            answer = await client.post(
                f"/events/{instance}", json={"event": "call", "data": {}}, headers=AUTH
            )
            return answer.status, answer.headers.get("Retry-After"), await answer.json()

        statuses = [(await post("noisy"))[0] for _ in range(4)]
        assert statuses == [202] * 4
        status, wait, body = await post("noisy")
        assert (status, wait, body["error"]) == (429, "1", "rate_limited")
        assert "ROUTER_INGEST_RATE_PER_INSTANCE=4" in str(body["message"])
        assert (await post("quiet"))[0] == 202
        batch = await client.post("/events/noisy/batch", json=[{"event": "call"}] * 2, headers=AUTH)
        assert batch.status == 429
        await asyncio.sleep(1.05)  # past the wait it named
        assert (await post("noisy"))[0] == 202
        metrics = await (await client.get("/metrics")).text()
    assert 'router_events_refused_total{reason="rate_limited"}' in metrics
