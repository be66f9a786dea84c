"""``/dlq`` over HTTP on the real broker: counts by role, letters left in place, a replay of the
letters chosen by id and of all the rest, each followed to its end, and every refusal."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from router.delivery.adapter import Dead, Delivered, Delivery, Outcome
from tests.conftest import Cleanup
from tests.support.adapter import ScriptedAdapter
from tests.support.app import API_KEY, router_settings, running_app

AUTH = {"apikey": API_KEY}


async def counts(client: TestClient[Any, Any]) -> dict[str, int | None]:
    answer = await client.get("/dlq", headers=AUTH)
    assert answer.status == 200
    return {q["role"]: q["messages"] for q in (await answer.json())["queues"]}


async def until_count(client: TestClient[Any, Any], role: str, n: int) -> None:
    async with asyncio.timeout(10):
        while (await counts(client)).get(role) != n:
            await asyncio.sleep(0.1)


async def replayed(client: TestClient[Any, Any], body: dict[str, Any] | None) -> dict[str, Any]:
    started = await client.post("/dlq/scripted/replay", json=body, headers=AUTH)
    assert started.status == 202, await started.text()
    replay = (await started.json())["replay"]
    async with asyncio.timeout(10):
        while True:
            answer = await client.get(f"/dlq/scripted/replay/{replay}", headers=AUTH)
            progress: dict[str, Any] = await answer.json()
            if progress["state"] != "running":
                return progress
            await asyncio.sleep(0.05)


async def test_dead_letters_are_listed_and_replayed_all_or_chosen(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    healthy = asyncio.Event()

    def decide(_: Delivery) -> Outcome:
        return Delivered() if healthy.is_set() else Dead("receiver gone")

    adapter = ScriptedAdapter(decide=decide)
    settings = router_settings(amqp_url, exchange_name)
    async with running_app(settings, adapters={"scripted": adapter}) as client:
        ids = []
        for n in range(3):
            answer = await client.post(
                "/events/shop", json={"event": "call", "data": {"n": n}}, headers=AUTH
            )
            ids.append((await answer.json())["id"])
        await until_count(client, "scripted", 3)
        assert (await counts(client))["ingest"] == 0

        listing = await client.get("/dlq/scripted", headers=AUTH)
        body = await listing.json()
        assert (body["role"], body["messages"]) == ("scripted", 3)
        assert sorted(letter["id"] for letter in body["letters"]) == sorted(ids)
        assert {letter["reason"] for letter in body["letters"]} == {"receiver gone"}
        assert {letter["instance"] for letter in body["letters"]} == {"shop"}
        await until_count(client, "scripted", 3)  # looked at, left where they were

        healthy.set()
        progress = await replayed(client, {"ids": [ids[1]]})
        assert (progress["state"], progress["replayed"], progress["total"]) == ("done", 1, 1)
        delivered = [d for d in adapter.deliveries if d.envelope.id == ids[1]]
        async with asyncio.timeout(10):
            while len(delivered) < 2:
                await asyncio.sleep(0.05)
                delivered = [d for d in adapter.deliveries if d.envelope.id == ids[1]]
        assert delivered[-1].attempt == 1  # attempts start again
        await until_count(client, "scripted", 2)

        progress = await replayed(client, None)  # no body at all: every letter
        assert (progress["state"], progress["replayed"]) == ("done", 2)
        await until_count(client, "scripted", 0)
        again = {d.envelope.id for d in adapter.deliveries[3:]}
        assert again == set(ids)


async def test_refusals(amqp_url: str, exchange_name: str, cleanup: Cleanup) -> None:
    settings = router_settings(amqp_url, exchange_name)
    async with running_app(settings, adapters={"scripted": ScriptedAdapter()}) as client:
        assert (await client.get("/dlq")).status == 401
        cases: list[tuple[str, str, dict[str, Any] | None, int]] = [
            ("GET", "/dlq/nosuch", None, 404),
            ("GET", "/dlq/scripted?limit=0", None, 400),
            ("GET", "/dlq/scripted?limit=5&limit=6", None, 400),
            ("POST", "/dlq/scripted/replay", {"ids": []}, 422),
            ("POST", "/dlq/scripted/replay", {"ids": [1]}, 422),
            ("POST", "/dlq/scripted/replay", {"limit": 0}, 422),
            ("POST", "/dlq/scripted/replay", {"what": 1}, 422),
            ("POST", "/dlq/nosuch/replay", {}, 404),
            ("GET", "/dlq/scripted/replay/nope", None, 404),
        ]
        for method, path, body, status in cases:
            answer = await client.request(method, path, json=body, headers=AUTH)
            assert answer.status == status, (path, body, await answer.text())
