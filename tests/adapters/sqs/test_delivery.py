"""The sqs role end to end: HTTP ingest -> RabbitMQ -> SQS adapter -> moto_server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.sqs.adapter import BATCHES
from router.amqp.topology import AdapterQueues
from router.config.settings import Settings
from router.config.store import MemoryStore
from router.delivery import dlq
from schemas import CATALOG
from schemas.instance_config import ChannelConfig, InstanceConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.moto import MotoServer

AUTH = {"apikey": API_KEY}
ALL_EVENTS = {f"event_{e.key.lower()}": True for e in CATALOG}


@pytest.fixture
def sqs_settings(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, moto: MotoServer
) -> Callable[..., Settings]:
    def make(router: Mapping[str, Any] | None = None, **sqs: Any) -> Settings:
        values = {
            "enabled": True,
            "global_enabled": True,
            "endpoint_url": moto.url,
            "region": "us-east-1",
            "access_key_id": "test",
            "secret_access_key": "test",
            "batch_window_ms": 50,
            **ALL_EVENTS,
            **sqs,
        }
        fast = {
            "retry_initial_delay_seconds": 0.2,
            "retry_jitter_factor": 0,
            "retry_max_attempts": 30,
        }
        return router_settings(
            amqp_url, exchange_name, sqs=values, webhook=fast, router=router or {}
        )

    return make


async def receive_all(
    client: Any, name: str, expected: int, timeout: float = 15, *, delete: bool = False
) -> list[dict[str, Any]]:
    """What ``name`` holds, ``expected`` messages at least (with 0, whatever one look finds);
    ``delete`` each as received, as a FIFO queue needs before it gives the next messages of
    the same group."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                url = (await asyncio.to_thread(client.get_queue_url, QueueName=name))["QueueUrl"]
            except client.exceptions.QueueDoesNotExist:
                if not expected:
                    return messages
                await asyncio.sleep(0.1)
                continue
            answer = await asyncio.to_thread(
                client.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            got = answer.get("Messages", [])
            for message in got if delete else ():
                await asyncio.to_thread(
                    client.delete_message, QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                )
            messages += got
            if len(messages) >= expected:
                return messages
            await asyncio.sleep(0.05)


async def post(client: Any, instance: str, body: Any) -> Any:
    response = await client.post(f"/events/{instance}", json=body, headers=AUTH)
    assert response.status == 202, await response.text()
    return await response.json()


async def test_every_catalog_event_reaches_its_queue_exactly(
    sqs_settings: Callable[..., Settings], moto: MotoServer
) -> None:
    sqs = moto.client()
    async with running_app(sqs_settings()) as client:
        sent = {}
        for event in CATALOG:
            answer = await post(client, "shop", {"event": event.wire, "data": {"w": event.wire}})
            sent[event.wire] = answer["id"]
        for event in CATALOG:
            (message,) = await receive_all(sqs, f"shop-{event.sqs_suffix}", 1)
            body = orjson.loads(message["Body"])
            assert body["id"] == sent[event.wire]
            assert body["event"] == event.wire
            assert body["data"] == {"w": event.wire}
            assert "destination" not in body
            attributes = message["MessageAttributes"]
            assert attributes["event"]["StringValue"] == event.wire
            assert attributes["instance"]["StringValue"] == "shop"
            assert attributes["event_id"]["StringValue"] == sent[event.wire]


async def test_media_stored_aside_is_left_out_rather_than_sent_as_its_claim(
    sqs_settings: Callable[..., Settings], moto: MotoServer, tmp_path: Path
) -> None:
    sqs = moto.client()
    limits = {"media_claim_bytes": 8192, "media_store": str(tmp_path)}
    video = {"key": {"id": "V1"}, "message": {"videoMessage": {}, "base64": "QU/D" * 4096}}
    image = {"key": {"id": "I1"}, "message": {"imageMessage": {}, "base64": "QU/D" * 64}}
    async with running_app(sqs_settings(router=limits)) as client:
        for data in (video, image):
            body = {"event": "messages.upsert", "instance": "shop", "data": data}
            answer = await client.post(f"/ingest/evolution/{API_KEY}", json=body)
            assert answer.status == 202, await answer.text()
        messages = await receive_all(sqs, "shop-messages_upsert", 2)
    got = {
        m["data"]["key"]["id"]: m["data"] for m in map(lambda m: orjson.loads(m["Body"]), messages)
    }
    assert got["V1"]["message"] == {"videoMessage": {}}  # stored aside: not in the message
    assert got["I1"] == image  # under ROUTER_MEDIA_CLAIM_BYTES: sent as it came
    assert len(await asyncio.to_thread(lambda: list(tmp_path.rglob("0")))) == 1


async def test_fifo_queues_deduplicate_by_event_id(
    sqs_settings: Callable[..., Settings], moto: MotoServer
) -> None:
    sqs = moto.client()
    event_id = "01932f1e-7c1e-7a4e-9f4e-2b1d8c1e5a10"
    async with running_app(sqs_settings(fifo=True)) as client:
        for _ in range(2):  # a producer that sent the same event twice
            await post(client, "shop", {"event": "call", "id": event_id, "data": {}})
        await post(client, "shop", {"event": "call", "data": {"other": True}})
        messages = await receive_all(sqs, "shop-call.fifo", 2)
        await asyncio.sleep(0.5)
        messages += await receive_all(sqs, "shop-call.fifo", 0)
    ids = [orjson.loads(m["Body"])["id"] for m in messages]
    assert ids.count(event_id) == 1
    assert len(ids) == 2


async def test_twenty_five_events_to_one_queue_take_three_batches(
    sqs_settings: Callable[..., Settings], moto: MotoServer
) -> None:
    sqs = moto.client()
    async with running_app(sqs_settings(batch_window_ms=300)) as client:
        await post(client, "warm", {"event": "call"})  # creates the client's first connection
        await receive_all(sqs, "warm-call", 1)
        before = BATCHES._value.get()
        items = [{"event": "messages.upsert", "data": {"n": i}} for i in range(25)]
        response = await client.post("/events/burst/batch", json=items, headers=AUTH)
        assert response.status == 202
        messages = await receive_all(sqs, "burst-messages_upsert", 25)
        batches = BATCHES._value.get() - before
    assert sorted(orjson.loads(m["Body"])["data"]["n"] for m in messages) == list(range(25))
    assert batches == 3


async def test_oversize_events_go_to_the_dlq_with_the_reason(
    sqs_settings: Callable[..., Settings], amqp_url: str, exchange_name: str
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "sqs")
    async with running_app(sqs_settings(max_payload_size=2048)) as client:
        answer = await post(client, "shop", {"event": "call", "data": {"blob": "x" * 4000}})
        async with asyncio.timeout(10):
            while not (dead := await dlq.list_messages(amqp_url, queues.dlq)):
                await asyncio.sleep(0.05)
    assert dead[0].id == answer["id"]
    assert dead[0].reason is not None
    assert dead[0].reason.startswith("payload_too_large:")
    assert "SQS_MAX_PAYLOAD_SIZE=2048" in dead[0].reason


async def test_a_queue_deleted_behind_the_routers_back_is_created_again(
    sqs_settings: Callable[..., Settings], moto: MotoServer
) -> None:
    sqs = moto.client()
    async with running_app(sqs_settings()) as client:
        await post(client, "shop", {"event": "call", "data": 1})
        await receive_all(sqs, "shop-call", 1)
        url = sqs.get_queue_url(QueueName="shop-call")["QueueUrl"]
        sqs.delete_queue(QueueUrl=url)
        await post(client, "shop", {"event": "call", "data": 2})
        (message,) = await receive_all(sqs, "shop-call", 1)
    assert orjson.loads(message["Body"])["data"] == 2


async def test_events_wait_while_sqs_is_down_and_arrive_when_it_is_back(
    sqs_settings: Callable[..., Settings], moto: MotoServer
) -> None:
    async with running_app(sqs_settings()) as client:
        await post(client, "shop", {"event": "call", "data": "before"})
        await receive_all(moto.client(), "shop-call", 1)
        await moto.stop()
        for i in range(5):
            await post(client, "shop", {"event": "call", "data": i})
        await asyncio.sleep(1.5)  # several failed attempts, waiting in the retry queues
        await moto.start()  # same port, empty: the queue is created again
        messages = await receive_all(moto.client(), "shop-call", 5, timeout=30)
    assert sorted(orjson.loads(m["Body"])["data"] for m in messages) == list(range(5))


async def test_every_catalog_event_reaches_its_evolution_named_fifo_queue(
    sqs_settings: Callable[..., Settings], moto: MotoServer
) -> None:
    sqs = moto.client()
    store = MemoryStore()
    await store.put(InstanceConfig(instance="shop1", sqs=ChannelConfig(enabled=True)))
    settings = sqs_settings(queue_naming="evolution", global_enabled=False)
    async with running_app(settings, store=store) as client:
        sent = {}
        for event in CATALOG:
            answer = await post(client, "shop1", {"event": event.wire, "data": {"w": event.wire}})
            sent[event.wire] = answer["id"]
        for event in CATALOG:
            name = f"shop1_{event.key.lower()}.fifo"
            (message,) = await receive_all(sqs, name, 1)
            body = orjson.loads(message["Body"])
            assert (body["id"], body["event"], body["instance"]) == (
                sent[event.wire],
                event.wire,
                "shop1",
            )
            assert (body["dataType"], body["server"]) == ("json", "evolution")
            assert body["data"] == {"w": event.wire}
        url = sqs.get_queue_url(QueueName="shop1_send_message_update.fifo")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["FifoQueue"])
        assert attributes["Attributes"]["FifoQueue"] == "true"


async def test_evolution_global_mode_shares_one_queue_per_event_in_each_instance_order(
    sqs_settings: Callable[..., Settings], moto: MotoServer
) -> None:
    sqs = moto.client()
    settings = sqs_settings(queue_naming="evolution", global_prefix_name="acme")
    async with running_app(settings) as client:
        ids: dict[str, list[str]] = {"shop1": [], "shop2": []}
        for n in range(6):
            for instance in ids:
                answer = await post(
                    client, instance, {"event": "messages.upsert", "data": {"n": n}}
                )
                ids[instance].append(answer["id"])
        # The same event sent again (a producer's retry) is one message.
        again = {"event": "messages.upsert", "id": ids["shop1"][0], "data": {"n": 0}}
        await client.post("/events/shop1", json=again, headers=AUTH)
        messages = await receive_all(sqs, "acme_messages_upsert.fifo", 12, delete=True)
        await asyncio.sleep(0.5)
        messages += await receive_all(sqs, "acme_messages_upsert.fifo", 0, delete=True)
    bodies = [orjson.loads(m["Body"]) for m in messages]
    assert len(bodies) == 12
    for instance, sent in ids.items():
        assert [b["id"] for b in bodies if b["instance"] == instance] == sent
