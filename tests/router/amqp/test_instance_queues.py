"""An instance's ``rabbitmq`` block declares its own per-event queues, as Evolution does, with
RABBITMQ_ENABLED (Evolution's switch for them all)."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractConnection, AbstractQueue

from router.http.appkeys import BROKER
from schemas import instance_word
from tests.conftest import Cleanup
from tests.support.amqp import next_message
from tests.support.app import API_KEY, router_settings, running_app

AUTH = {"apikey": API_KEY}
RABBITMQ_ON = {"enabled": True}


async def wait_for_queue(amqp: AbstractConnection, name: str) -> AbstractQueue:
    async with asyncio.timeout(5):
        while True:
            channel = await amqp.channel()
            try:
                return await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                await asyncio.sleep(0.05)


@pytest.mark.parametrize("prefix", ["inst-", "Loja Centro "])
async def test_rabbitmq_block_gets_a_queue_per_chosen_event(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, amqp: AbstractConnection, prefix: str
) -> None:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    instance = instance_word(name)  # queue names know an instance by its word
    cleanup.queue(f"{instance}.messages.upsert")
    settings = router_settings(amqp_url, exchange_name, rabbitmq=RABBITMQ_ON)
    async with running_app(settings) as client:
        response = await client.post(
            f"/rabbitmq/set/{quote(name, safe='')}",
            json={"rabbitmq": {"enabled": True, "events": ["MESSAGES_UPSERT"]}},
            headers=AUTH,
        )
        assert response.status in (200, 201), await response.text()
        queue = await wait_for_queue(amqp, f"{instance}.messages.upsert")
        await asyncio.sleep(1.0)  # declared, then bound: applied within a second
        for event in ("messages.upsert", "call"):
            answer = await client.post(
                f"/events/{quote(name, safe='')}", json={"event": event}, headers=AUTH
            )
            assert answer.status == 202
        message = await next_message(queue)
        assert orjson.loads(message.body)["event"] == "messages.upsert"
        channel = await amqp.channel()
        assert (
            await channel.declare_queue(queue.name, passive=True)
        ).declaration_result.message_count == 0


async def test_a_refused_instance_queue_leaves_the_others_working(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, amqp: AbstractConnection
) -> None:
    instance = f"inst-{uuid.uuid4().hex[:8]}"
    taken, fine = f"{instance}.call", f"{instance}.messages.upsert"
    cleanup.queue(taken)
    cleanup.queue(fine)
    # A classic queue of the same name: declaring it as a quorum queue is refused.
    channel = await amqp.channel()
    await channel.declare_queue(taken, durable=True)
    settings = router_settings(amqp_url, exchange_name, rabbitmq=RABBITMQ_ON)
    async with running_app(settings) as client:
        response = await client.post(
            f"/rabbitmq/set/{instance}",
            json={"rabbitmq": {"enabled": True, "events": ["CALL", "MESSAGES_UPSERT"]}},
            headers=AUTH,
        )
        assert response.status in (200, 201), await response.text()
        queue = await wait_for_queue(amqp, fine)
        await asyncio.sleep(1.0)
        answer = await client.post(
            f"/events/{instance}", json={"event": "messages.upsert"}, headers=AUTH
        )
        assert answer.status == 202
        message = await next_message(queue)
        assert orjson.loads(message.body)["event"] == "messages.upsert"
        # The configuration channel survived: a later change still applies.
        assert client.app[BROKER].ready


async def test_without_rabbitmq_enabled_a_block_is_kept_and_declares_nothing(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, amqp: AbstractConnection
) -> None:
    instance = f"inst-{uuid.uuid4().hex[:8]}"
    cleanup.queue(f"{instance}.call")
    settings = router_settings(amqp_url, exchange_name)
    async with running_app(settings) as client:
        response = await client.post(
            f"/rabbitmq/set/{instance}",
            json={"rabbitmq": {"enabled": True, "events": ["CALL"]}},
            headers=AUTH,
        )
        assert response.status in (200, 201), await response.text()
        assert (await response.json())["enabled"] is True  # kept, for when it is switched on
        await asyncio.sleep(1.5)  # what an enabled router takes to declare and bind it
        channel = await amqp.channel()
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            await channel.declare_queue(f"{instance}.call", passive=True)
