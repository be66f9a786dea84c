"""``GET /destinations`` on the real broker: what each role's queues hold (work, retries, dead
letters), and every webhook's state, the troubled first."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from router.amqp.topology import AdapterQueues
from router.config.store import MemoryStore
from router.delivery.adapter import Dead, Delivered, Delivery, Outcome, Retry, RetryPolicy
from router.delivery.retryqueues import delays_ms
from router.http.appkeys import ATTEMPTS
from router.http.destinations import state_of, webhook_rows
from schemas.instance_config import ChannelConfig, InstanceConfig, WebhookConfig
from schemas.timefmt import format_utc
from tests.conftest import Cleanup
from tests.support.adapter import ScriptedAdapter
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.attempts import attempt
from tests.support.receiver import Answer, running_receiver

AUTH = {"apikey": API_KEY}


def hook(label: str, **fields: Any) -> WebhookConfig:
    return WebhookConfig(label=label, url=f"https://u:pw@crm.example/{label}", **fields)


def test_webhooks_are_listed_the_troubled_first_and_masked() -> None:
    configs = [
        InstanceConfig(instance="b", webhooks=(hook("ok"),)),
        InstanceConfig(
            instance="a",
            webhooks=(
                hook("fine"),
                hook("flaky", failing_since="2026-12-01T00:00:00.000Z"),
                hook(
                    "gone",
                    enabled=False,
                    disabled_at="2026-12-02T00:00:00.000Z",
                    disabled_reason="410 Gone",
                ),
            ),
        ),
    ]
    rows = webhook_rows(configs)
    assert [(r["instance"], r["label"], r["state"]) for r in rows] == [
        ("a", "gone", "disabled"),
        ("a", "flaky", "failing"),
        ("a", "fine", "delivering"),
        ("b", "ok", "delivering"),
    ]
    assert all("pw" not in r["url"] for r in rows)
    assert state_of(False, None, None) == "disabled"  # switched off by its owner


async def test_what_each_role_holds_now(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    def decide(delivery: Delivery) -> Outcome:
        data = delivery.envelope.data
        return Dead("gone") if data == {"n": 0} else Retry("later", delay=8)

    adapter = ScriptedAdapter(decide=decide)
    settings = router_settings(amqp_url, exchange_name)
    async with running_app(settings, adapters={"scripted": adapter}) as client:
        assert (await client.get("/destinations")).status == 401
        for n in range(3):
            answer = await client.post(
                "/events/shop", json={"event": "call", "data": {"n": n}}, headers=AUTH
            )
            assert answer.status == 202
        async with asyncio.timeout(10):
            while True:
                body = await (await client.get("/destinations", headers=AUTH)).json()
                role = next(r for r in body["roles"] if r["role"] == "scripted")
                if (role["dead"], role["retrying"]) == (1, 2):
                    break
                await asyncio.sleep(0.1)
        assert role["waiting"] == 0
        assert body["webhooks"] == []
        assert body["global_webhook"] == {"url": None, "receiver": None, "enabled": False}


async def test_each_destinations_traffic_over_the_last_minutes(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    def decide(delivery: Delivery) -> Outcome:
        n = delivery.envelope.data["n"]
        return Delivered(destination="memory") if n else Dead("gone", destination="memory")

    settings = router_settings(amqp_url, exchange_name, router={"history_flush_seconds": 0.1})
    adapter = ScriptedAdapter(decide=decide)
    async with running_app(settings, adapters={"scripted": adapter}) as client:
        # Twenty minutes ago another destination failed, outside the default window of 15.
        old = datetime.now(UTC) - timedelta(minutes=20)
        await client.app[ATTEMPTS].add(
            [
                attempt(
                    event="call",
                    destination="https://old.example/hook",
                    outcome="dead",
                    status=410,
                    duration_ms=3.0,
                    error="gone",
                    response=None,
                    at=format_utc(old),
                )
            ]
        )
        for n in range(4):
            answer = await client.post(
                "/events/shop", json={"event": "call", "data": {"n": n}}, headers=AUTH
            )
            assert answer.status == 202
        async with asyncio.timeout(10):
            while True:
                body = await (await client.get("/destinations", headers=AUTH)).json()
                found = body["traffic"]["destinations"]
                if found and found[0]["delivered"] + found[0]["dead"] == 4:
                    break
                await asyncio.sleep(0.1)
        assert len(body["traffic"]["minutes"]) == 15
        assert [d["destination"] for d in found] == ["memory"]
        (memory,) = found
        assert (memory["adapter"], memory["instance"], memory["label"]) == ("scripted", None, None)
        assert (memory["delivered"], memory["dead"], memory["success_rate"]) == (3, 1, 0.75)
        assert memory["delivered_by_minute"][-1] + memory["delivered_by_minute"][-2] == 3
        assert memory["mean_ms"] is not None
        # A window long enough reaches the old failure, the worst first.
        wide = await (await client.get("/destinations?minutes=30", headers=AUTH)).json()
        assert [d["destination"] for d in wide["traffic"]["destinations"]] == [
            "https://old.example/hook",
            "memory",
        ]
        for bad in ("0", "61", "x", "1.5"):
            refused = await client.get(f"/destinations?minutes={bad}", headers=AUTH)
            assert refused.status == 400
            assert "minutes must be" in (await refused.json())["message"]


async def test_traffic_is_null_with_the_history_off(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    settings = router_settings(amqp_url, exchange_name, router={"history_enabled": False})
    async with running_app(settings, roles=["ingest"]) as client:
        body = await (await client.get("/destinations", headers=AUTH)).json()
        assert body["traffic"] is None


async def test_a_failing_receivers_open_breaker_is_seen_live(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async for receiver in running_receiver():
        receiver.script = lambda _r, _n: Answer(status=503)
        settings = router_settings(
            amqp_url,
            exchange_name,
            webhook={
                "global_enabled": True,
                "global_url": f"{receiver.base}/hook",
                "event_call": True,
                "endpoint_failure_threshold": 2,
                "retry_initial_delay_seconds": 30,
                "retry_jitter_factor": 0,
            },
            router={"status_seconds": 0.2},
        )
        queues = AdapterQueues.for_role(exchange_name, "webhook")
        for delay in delays_ms(RetryPolicy.from_settings(settings.webhook)):
            cleanup.queue(queues.delay(delay))
        async with running_app(settings) as client:
            for n in range(2):  # one at a time: two failures in a row open the breaker
                answer = await client.post(
                    "/events/shop", json={"event": "call", "data": {"n": n}}, headers=AUTH
                )
                assert answer.status == 202
                await receiver.next()
            answer = await client.post(
                "/events/shop", json={"event": "call", "data": {"n": 2}}, headers=AUTH
            )
            assert answer.status == 202
            async with asyncio.timeout(15):
                while True:
                    body = await (await client.get("/destinations", headers=AUTH)).json()
                    receivers = body["live"]["receivers"]
                    if receivers and receivers[0]["breaker"] == "open":
                        break
                    await asyncio.sleep(0.1)
            assert body["live"]["processes"] == 1
            assert set(body["live"]["in_flight"]) >= {"webhook"}
            (seen,) = receivers
            assert seen["receiver"] == f"http://127.0.0.1:{receiver.port}"
            assert body["global_webhook"]["receiver"] == seen["receiver"]
            assert 0 < seen["reopens_in"] <= 30
            assert seen["latency_ms"] is not None
            async with asyncio.timeout(10):  # the third is held back, not sent nor failed
                while True:
                    body = await (await client.get("/destinations", headers=AUTH)).json()
                    found = body["traffic"]["destinations"]
                    if found and found[0]["deferred"]:
                        break
                    await asyncio.sleep(0.1)
            (hook,) = found
            assert (hook["retried"], hook["deferred"], hook["success_rate"]) == (2, 1, 0.0)
            assert len(receiver.requests) == 2


async def test_what_the_amqp_consumers_queues_hold_the_unread_first(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    instance = f"shop-{uuid.uuid4().hex[:6]}"
    for name in (f"{prefix}.call", f"{prefix}.qrcode.updated", f"{instance}.call"):
        cleanup.queue(name)
    settings = router_settings(
        amqp_url,
        exchange_name,
        rabbitmq={
            "enabled": True,
            "global_enabled": True,
            "prefix_key": prefix,
            "event_call": True,
            "event_qrcode_updated": True,
        },
    )
    store = MemoryStore()
    await store.put(
        InstanceConfig(instance=instance, rabbitmq=ChannelConfig(enabled=True, events=("call",)))
    )
    async with running_app(settings, ["ingest"], store=store) as client:
        for event in ("call", "call", "qrcode.updated"):
            answer = await client.post(f"/events/{instance}", json={"event": event}, headers=AUTH)
            assert answer.status == 202
        async with asyncio.timeout(10):
            while True:
                body = await (await client.get("/destinations", headers=AUTH)).json()
                queues = {q["queue"]: q for q in body["amqp"]["queues"]}
                if queues.get(f"{instance}.call", {}).get("messages") == 2:
                    break
                await asyncio.sleep(0.1)
        assert body["amqp"]["left_out"] == 0
        assert [q["queue"] for q in body["amqp"]["queues"]] == [
            f"{instance}.call",
            f"{prefix}.call",
            f"{prefix}.qrcode.updated",
        ]
        assert queues[f"{prefix}.call"] == {
            "queue": f"{prefix}.call",
            "instance": None,
            "event": "call",
            "messages": 2,
            "consumers": 0,
        }
        assert queues[f"{instance}.call"]["instance"] == instance
