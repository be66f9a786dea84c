"""``GET /destinations`` on the real broker: what each role's queues hold (work, retries, dead
letters), and every webhook's state, the troubled first."""

from __future__ import annotations

import asyncio
from typing import Any

from router.delivery.adapter import Dead, Delivery, Outcome, Retry
from router.http.destinations import state_of, webhook_rows
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.conftest import Cleanup
from tests.support.adapter import ScriptedAdapter
from tests.support.app import API_KEY, router_settings, running_app

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
        assert body["global_webhook"] == {"url": None, "enabled": False}
