"""Every webhook attempt recorded end to end: HTTP ingest -> RabbitMQ -> the webhook adapter ->
a receiver on loopback, then ``GET /attempts`` answering from SQLite or PostgreSQL what each
attempt came to, in order, with the receiver's answer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from router.amqp.topology import AdapterQueues, quantize_delay_ms
from router.config.settings import Settings
from router.config.store import ConfigStore
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.databases import opened_store
from tests.support.receiver import Answer, Receiver

AUTH = {"apikey": API_KEY}
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConfigStore]:
    async with opened_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def settings(amqp_url: str, exchange_name: str, cleanup: Cleanup, receiver: Receiver) -> Settings:
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    for seconds in (0.1, 0.2, 0.4):
        cleanup.queue(queues.delay(quantize_delay_ms(seconds)))
    return router_settings(
        amqp_url,
        exchange_name,
        webhook={
            "global_enabled": True,
            # Credentials in the URL, to be masked in the record.
            "global_url": f"http://hook:s3cret@127.0.0.1:{receiver.port}/hook",
            "event_call": True,
            "retry_initial_delay_seconds": 0.2,
            "retry_jitter_factor": 0,
            "retry_max_attempts": 3,
        },
        router={"history_flush_seconds": 0.05},
    )


async def post(client: TestClient[Any, Any], instance: str = "shop") -> str:
    response = await client.post(f"/events/{instance}", json={"event": "call"}, headers=AUTH)
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


async def attempts_of(
    client: TestClient[Any, Any], count: int, **params: str
) -> list[dict[str, Any]]:
    """The attempts ``params`` select, once there are ``count`` of them."""
    deadline = time.monotonic() + 15
    while True:
        response = await client.get("/attempts", params=params, headers=AUTH)
        assert response.status == 200, await response.text()
        found: list[dict[str, Any]] = (await response.json())["attempts"]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {count} attempts recorded"
        await asyncio.sleep(0.05)


async def test_a_delivered_event_is_recorded_with_the_answer(
    settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    receiver.script = lambda _r, _n: Answer(status=201, body=b'{"thanks": true}')
    async with running_app(settings, store=store) as client:
        event_id = await post(client)
        [record] = await attempts_of(client, 1, event_id=event_id)
        destination = f"http://hook:***@127.0.0.1:{receiver.port}/hook"
        by_destination = await attempts_of(client, 1, destination=destination)
    assert record == {
        "event_id": event_id,
        "instance": "shop",
        "event": "call",
        "adapter": "webhook",
        "destination": destination,
        "label": "global",
        "attempt": 1,
        "outcome": "delivered",
        "status": 201,
        "duration_ms": record["duration_ms"],
        "error": None,
        "response": '{"thanks": true}',
        "at": record["at"],
    }
    assert 0 <= record["duration_ms"] < 10_000
    assert TIME.fullmatch(record["at"])
    assert by_destination == [record]


async def test_each_attempt_of_a_retried_event_is_recorded_in_order(
    settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    receiver.script = lambda _r, n: (
        Answer(status=500, body=b"busy, try later") if n < 2 else Answer(status=200, body=b"ok")
    )
    async with running_app(settings, store=store) as client:
        event_id = await post(client)
        newest_first = await attempts_of(client, 3, event_id=event_id)
    assert [(r["attempt"], r["outcome"], r["status"]) for r in newest_first] == [
        (3, "delivered", 200),
        (2, "retry", 500),
        (1, "retry", 500),
    ]
    first = newest_first[-1]
    assert first["error"] == "HTTP 500: busy, try later"
    assert first["response"] == "busy, try later"
    assert newest_first[0]["response"] == "ok"
    assert newest_first[0]["error"] is None
    times = [r["at"] for r in reversed(newest_first)]
    assert times == sorted(times)
    assert len(receiver.requests) == 3


async def test_a_dead_event_is_recorded_for_its_subscription(
    settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    hook = WebhookConfig(label="crm", url=f"{receiver.base}/crm", events=["call"])
    await store.put(InstanceConfig(instance="Loja Centro", webhooks=(hook,)))
    receiver.script = lambda r, _n: (
        Answer(status=503, body=b"down for maintenance" * 200)
        if r.path == "/crm"
        else Answer(status=204, body=b"")
    )
    async with running_app(settings, store=store) as client:
        event_id = await post(client, "Loja Centro")
        crm = await attempts_of(client, 3, event_id=event_id, label="crm")
        both = await attempts_of(client, 4, event_id=event_id)
        dead = await attempts_of(client, 1, outcome="dead", instance="Loja Centro")
    assert [(r["attempt"], r["outcome"], r["status"]) for r in crm] == [
        (3, "dead", 503),
        (2, "retry", 503),
        (1, "retry", 503),
    ]
    assert crm[0]["error"].startswith("gave up after 3 attempts: HTTP 503: down for")
    # The first 2 KB of the answer, no more.
    assert crm[0]["response"] == ("down for maintenance" * 200)[:2048]
    assert {r["destination"] for r in crm} == {f"{receiver.base}/crm"}
    # The global webhook got the same event once, and said so with an empty body.
    assert [(r["label"], r["outcome"], r["response"]) for r in both if r["label"] != "crm"] == [
        ("global", "delivered", "")
    ]
    assert dead == [crm[0]]
