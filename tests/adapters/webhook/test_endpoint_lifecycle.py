"""A per-instance webhook that keeps failing is disabled past WEBHOOK_ENDPOINT_DISABLE_AFTER,
with an operator event; enabled again, it is sent what it missed from the archive."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from router.config.store import MemoryStore
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.receiver import Answer, Received, Receiver

AUTH = {"apikey": API_KEY}


def settings_for(amqp_url: str, exchange_name: str, errors: Receiver, **webhook: Any) -> Any:
    return router_settings(
        amqp_url,
        exchange_name,
        webhook={
            "events_errors": True,
            "events_errors_webhook": f"{errors.base}/errors",
            "retry_initial_delay_seconds": 0.2,
            "retry_use_exponential_backoff": False,
            "retry_jitter_factor": 0,
            "retry_max_attempts": 50,
            **webhook,
        },
    )


async def store_with(receiver: Receiver) -> MemoryStore:
    store = MemoryStore()
    hook = WebhookConfig(label="crm", url=f"{receiver.base}/crm")
    await store.put(InstanceConfig(instance="shop", webhooks=[hook]))
    return store


async def notice(errors: Receiver, kind: str, timeout: float = 20) -> dict[str, Any]:
    """The next operator event of ``kind`` (dead-letter reports and others are passed over)."""
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = orjson.loads((await errors.next(timeout)).body)
            if body.get("type") == kind:
                return body


async def post(client: Any, event: str = "call") -> str:
    response = await client.post("/events/shop", json={"event": event}, headers=AUTH)
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


def ids(requests: list[Received]) -> list[str]:
    return [orjson.loads(r.body)["id"] for r in requests]


async def test_failing_past_the_threshold_disables_then_enable_replays_what_it_missed(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receivers: tuple[Receiver, Receiver]
) -> None:
    crm, errors = receivers
    up = asyncio.Event()
    crm.script = lambda _r, _n: Answer(200 if up.is_set() else 500)
    settings = settings_for(amqp_url, exchange_name, errors, endpoint_disable_after="2s")
    store = await store_with(crm)
    async with running_app(settings, store=store) as client:
        first = await post(client)
        disabled = await notice(errors, "router.endpoint.disabled")
        stored = (await store.get("shop")).webhook("crm")  # type: ignore[union-attr]
        assert stored is not None
        assert not stored.enabled
        assert stored.disabled_reason is not None
        assert "no delivery succeeded since" in stored.disabled_reason
        tried = len(crm.requests)
        assert tried >= 5  # retried for the whole two seconds before it was disabled
        # Disabled: what comes now is kept in the archive, not sent nor retried.
        second = await post(client, "messages.upsert")
        await asyncio.sleep(1.5)
        assert second not in ids(crm.requests)
        up.set()
        response = await client.post(
            "/endpoints/enable",
            json={"instance": "shop", "label": "crm", "replay": True},
            headers=AUTH,
        )
        assert response.status == 200, await response.text()
        answer = await response.json()
        assert answer["enabled"] is True
        assert answer["matched"] == 2
        recovered = await notice(errors, "router.endpoint.recovered")
        async with asyncio.timeout(20):
            while not {first, second} <= set(ids(crm.requests[tried:])):
                await crm.next()
        stored = (await store.get("shop")).webhook("crm")  # type: ignore[union-attr]
    assert disabled["instance"] == "shop"
    assert disabled["label"] == "crm"
    assert disabled["destination"] == f"{crm.base}/crm"
    assert disabled["failing_since"] <= disabled["disabled_at"]
    assert recovered["label"] == "crm"
    assert stored is not None
    assert stored.enabled
    assert (stored.failing_since, stored.disabled_at) == (None, None)


async def test_a_webhook_answering_gone_is_disabled_at_once(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receivers: tuple[Receiver, Receiver]
) -> None:
    crm, errors = receivers
    crm.script = lambda _r, _n: Answer(410)
    settings = settings_for(amqp_url, exchange_name, errors)  # the default: five days
    store = await store_with(crm)
    async with running_app(settings, store=store) as client:
        await post(client)
        disabled = await notice(errors, "router.endpoint.disabled")
        await asyncio.sleep(1)
    assert disabled["reason"] == "it answered 410 Gone"
    assert len(crm.requests) == 1  # its retry found it disabled
    hook = (await store.get("shop")).webhook("crm")  # type: ignore[union-attr]
    assert hook is not None
    assert not hook.enabled
