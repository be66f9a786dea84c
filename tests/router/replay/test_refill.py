"""A work queue deleted by hand: what came in while it was gone reached only the archive, and
is given to the queue again once it is declared anew."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
from aio_pika.abc import AbstractChannel

from router.amqp.archive import archive_name
from router.amqp.topology import AdapterQueues
from router.http.appkeys import BROKER
from router.replay.routes import Destination
from router.replay.service import refill, through
from tests.conftest import Cleanup
from tests.support.adapter import ScriptedAdapter
from tests.support.amqp import depth, next_message
from tests.support.app import API_KEY, router_settings, running_app

AUTH = {"apikey": API_KEY}


async def test_the_gap_is_refilled_from_the_archive(
    amqp_url: str, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    keys = frozenset({"*.call"})
    offline = ScriptedAdapter(name="webhook", keys=keys)
    async with running_app(
        router_settings(amqp_url, exchange_name), ["ingest"], {"webhook": offline}
    ) as client:
        response = await client.post("/events/inst", json={"event": "call"}, headers=AUTH)
        delivered = (await response.json())["id"]
        await channel.queue_delete(queues.work)  # someone removed it by hand, with its event
        gone = datetime.now(UTC)
        accepted = []
        for n in range(3):
            response = await client.post(
                "/events/inst", json={"event": "call", "data": n}, headers=AUTH
            )
            assert response.status == 202  # the archive took it in
            accepted.append((await response.json())["id"])
        broker = client.app[BROKER]
        broker.connection_lost("declare again")  # as a consumer that was cancelled does
        await broker.wait_ready(15)
        work = await channel.declare_queue(queues.work, passive=True)
        assert await depth(work) == 0
        progress = await refill(
            through(broker),
            archive_name(exchange_name),
            Destination("webhook", queues.work, keys),
            gone - timedelta(seconds=5),
        )
    assert progress.state == "done"
    assert progress.sent == 4  # the margin takes the event before the deletion again
    got = [orjson.loads((await next_message(work)).body)["id"] for _ in range(4)]
    assert got == [delivered, *accepted]


async def test_a_running_consumer_whose_queue_is_deleted_misses_nothing_accepted(
    amqp_url: str, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    adapter = ScriptedAdapter(name="webhook", keys=frozenset({"*.call"}))
    accepted: list[str] = []
    async with running_app(
        router_settings(amqp_url, exchange_name), ["ingest", "webhook"], {"webhook": adapter}
    ) as client:

        async def publish(n: int) -> None:
            response = await client.post(
                "/events/inst", json={"event": "call", "data": n}, headers=AUTH
            )
            if response.status == 202:  # 503 while the connection starts over: not accepted
                accepted.append((await response.json())["id"])

        await publish(-1)
        await channel.queue_delete(queues.work)
        # Published from the moment the queue is gone until well after it is back: some land
        # while it is gone, the consumer's cancellation and the new declaration race them.
        for n in range(150):
            await publish(n)
            await asyncio.sleep(0.01)
        seen: set[str] = set()
        async with asyncio.timeout(30):
            while not set(accepted) <= seen:
                seen.add((await adapter.next()).envelope.id)
    assert len(accepted) > 100
