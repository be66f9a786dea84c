"""Events sent again from the archive, through the HTTP API, reaching receivers on loopback with
their original ids; refusals that start nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from router.amqp.topology import AdapterQueues, quantize_delay_ms
from router.config.settings import Settings
from router.config.store import MemoryStore
from router.replay.plan import stamp
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.receiver import Receiver

AUTH = {"apikey": API_KEY}


@pytest.fixture
def settings(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receivers: tuple[Receiver, Receiver]
) -> Settings:
    for role in ("webhook", "webhook-errors"):
        queues = AdapterQueues.for_role(exchange_name, role)
        for seconds in (0.2, 0.4):
            cleanup.queue(queues.delay(quantize_delay_ms(seconds)))
    hooks, _ = receivers
    return router_settings(
        amqp_url,
        exchange_name,
        webhook={
            "global_enabled": True,
            "global_url": f"{hooks.base}/global",
            "event_messages_upsert": True,
            "event_call": True,
            "retry_initial_delay_seconds": 0.2,
        },
    )


async def labelled_store(receiver: Receiver) -> MemoryStore:
    store = MemoryStore()
    await store.put(
        InstanceConfig(
            instance="shop",
            webhooks=[
                WebhookConfig(label="crm", url=f"{receiver.base}/crm", events=["CALL"]),
                WebhookConfig(label="audit", url=f"{receiver.base}/audit"),
            ],
        )
    )
    return store


async def post(client: Any, instance: str, event: str) -> str:
    response = await client.post(f"/events/{instance}", json={"event": event}, headers=AUTH)
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


async def receive(receiver: Receiver, count: int) -> list[tuple[str, str]]:
    """(path, event id) of the next ``count`` requests, sorted."""
    got = [await receiver.next() for _ in range(count)]
    return sorted((r.path, orjson.loads(r.body)["id"]) for r in got)


async def finished(client: Any, replay: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            response = await client.get(f"/replay/{replay}", headers=AUTH)
            assert response.status == 200
            progress: dict[str, Any] = await response.json()
            if progress["state"] != "running":
                return progress
            await asyncio.sleep(0.1)


async def test_a_time_range_reaches_every_destination_again_with_the_original_ids(
    settings: Settings, receivers: tuple[Receiver, Receiver]
) -> None:
    hooks, labelled = receivers
    since = datetime.now(UTC)
    async with running_app(settings, store=await labelled_store(labelled)) as client:
        call = await post(client, "shop", "call")
        upsert = await post(client, "other", "messages.upsert")
        first = sorted(await receive(hooks, 2) + await receive(labelled, 2))
        assert first == sorted(
            [("/global", call), ("/global", upsert), ("/crm", call), ("/audit", call)]
        )
        response = await client.post("/replay", json={"since": stamp(since)}, headers=AUTH)
        assert response.status == 202, await response.text()
        answer = await response.json()
        assert answer["matched"] == 2
        progress = await finished(client, answer["replay"])
        again = sorted(await receive(hooks, 2) + await receive(labelled, 2))
    assert again == first
    assert progress["state"] == "done"
    assert progress["sent"] == 2
    assert progress["copies"] == 2  # the webhook queue once per event; it fans out itself
    assert progress["plan"]["since"] == stamp(since)


async def test_to_one_label_by_event_id_reaches_that_webhook_only(
    settings: Settings, receivers: tuple[Receiver, Receiver]
) -> None:
    hooks, labelled = receivers
    async with running_app(settings, store=await labelled_store(labelled)) as client:
        call = await post(client, "shop", "call")
        await receive(hooks, 1)
        await receive(labelled, 2)
        response = await client.post(
            "/replay", json={"event_ids": [call], "to": "webhook:crm"}, headers=AUTH
        )
        assert response.status == 202, await response.text()
        answer = await response.json()
        assert answer["matched"] == 1
        progress = await finished(client, answer["replay"])
        assert await receive(labelled, 1) == [("/crm", call)]
        # Nothing else comes: the copy was for the one subscription.
        await asyncio.sleep(1)
    assert progress["state"] == "done"
    assert len(hooks.requests) == 1
    assert [r.path for r in labelled.requests].count("/audit") == 1


async def test_refused_replays_start_nothing(
    settings: Settings, receivers: tuple[Receiver, Receiver]
) -> None:
    _, labelled = receivers
    now = datetime.now(UTC)
    async with running_app(settings, store=await labelled_store(labelled)) as client:
        await post(client, "shop", "call")

        async def refused(body: object, status: int = 422, **headers: str) -> str:
            response = await client.post("/replay", json=body, headers=headers or AUTH)
            assert response.status == status, await response.text()
            answer = await response.json()
            return f"{answer['error']}: {answer['message']}"

        earlier = stamp(now - timedelta(minutes=1))
        assert "is before 'since'" in await refused({"since": stamp(now), "until": earlier})
        assert "labels: audit, crm" in await refused({"since": stamp(now), "to": "webhook:x"})
        assert "not a destination here" in await refused({"since": stamp(now), "to": "pusher"})
        long_ago = {"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}
        assert "the archive keeps events from" in await refused(long_ago)
        assert "unauthorized" in await refused({"since": stamp(now)}, 401, apikey="wrong")
        response = await client.post("/replay", data=b"{", headers=AUTH)
        assert response.status == 400
        missing = await client.get("/replay/0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10", headers=AUTH)
        assert missing.status == 404
    assert [r.path for r in labelled.requests].count("/crm") == 1  # the one delivery, no replay


async def test_a_webhook_added_with_backfill_since_gets_the_archive_alone(
    settings: Settings, receivers: tuple[Receiver, Receiver]
) -> None:
    hooks, late = receivers
    since = datetime.now(UTC)
    async with running_app(settings) as client:
        call = await post(client, "shop", "call")
        upsert = await post(client, "shop", "messages.upsert")
        await post(client, "other", "call")
        await receive(hooks, 3)
        hook = {"url": f"{late.base}/late", "enabled": True, "backfillSince": stamp(since)}
        response = await client.post("/webhook/set/shop", json={"webhook": hook}, headers=AUTH)
        assert response.status in (200, 201), await response.text()
        assert await receive(late, 2) == sorted([("/late", call), ("/late", upsert)])
        # The global webhook is not sent them again, and the other instance's event stays out.
        await asyncio.sleep(1)
        stored = await (await client.get("/webhook/find/shop", headers=AUTH)).json()
    assert len(hooks.requests) == 3
    assert len(late.requests) == 2
    assert stored["backfillSince"] == stamp(since)
