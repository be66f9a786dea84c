"""HTTP ingest against the real broker: 202 only after the confirm, every refusal with its
status and nothing published, and recovery from an outage without a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractChannel

from router.http.appkeys import BROKER
from tests.conftest import BindQueue, Cleanup
from tests.support.amqp import depth, next_message
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.proxy import TcpProxy

AUTH = {"apikey": API_KEY}


async def test_accepted_event_arrives_with_its_id(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("*.messages.upsert")
    settings = router_settings(amqp_url, exchange_name, server={"url": "http://evo:8080"})
    async with running_app(settings) as client:
        response = await client.post(
            "/events/my-instance",
            json={"event": "messages.upsert", "data": {"key": {"id": "3EB0"}}},
            headers=AUTH,
        )
        assert response.status == 202
        answer = await response.json()
    message = await next_message(queue)
    body = orjson.loads(message.body)
    assert body["id"] == answer["id"] == message.message_id
    assert body["data"] == {"key": {"id": "3EB0"}}
    assert body["server_url"] == "http://evo:8080"
    assert body["date_time"].endswith("Z")


async def test_bearer_token_and_producer_id_are_accepted(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("inst.#")
    event_id = "01932f1e-7c1e-7a4e-9f4e-2b1d8c1e5a10"
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        response = await client.post(
            "/events/inst",
            json={"event": "GROUP_UPDATE", "data": {}, "id": event_id},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        assert response.status == 202
        assert await response.json() == {"id": event_id}
    message = await next_message(queue)
    assert message.routing_key == "inst.groups.update"
    assert orjson.loads(message.body)["id"] == event_id


async def test_202_waits_for_the_confirm(
    amqp_url: str, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    # A queue that refuses every message makes RabbitMQ nack the publish; were the answer
    # sent before the confirm, this would be a 202.
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    full = await channel.declare_queue(
        cleanup.queue(f"{exchange_name}.full"),
        arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )
    await full.bind(exchange, "full.#")
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        refused = await client.post("/events/full", json={"event": "call"}, headers=AUTH)
        assert refused.status == 503
        assert refused.headers["Retry-After"]
        body = await refused.json()
        assert body["error"] == "broker_unavailable"
        accepted = await client.post("/events/other", json={"event": "call"}, headers=AUTH)
        assert accepted.status == 202


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "error"),
    [
        ("/events/inst", b'{"event": "call", ', AUTH, 400, "malformed_json"),
        ("/events/inst", b'{"event": "call"}', {}, 401, "unauthorized"),
        ("/events/inst", b'{"event": "call"}', {"apikey": "wrong"}, 401, "unauthorized"),
        (
            "/events/inst",
            b'{"event": "call"}',
            {"Authorization": "Bearer wrong"},
            401,
            "unauthorized",
        ),
        ("/events/inst", b'{"event": "mesages.upsert"}', AUTH, 422, "unknown_event"),
        ("/events/in%0Ast", b'{"event": "call"}', AUTH, 422, "bad_instance"),
        ("/events/inst", b'{"event": "call", "evnt": 1}', AUTH, 422, "invalid"),
        ("/events/inst", b'{"data": {}}', AUTH, 422, "invalid"),
        ("/events/inst", b"[1, 2]", AUTH, 422, "invalid"),
        ("/events/inst", b'{"event": "call", "id": "not-an-id"}', AUTH, 422, "invalid"),
        ("/events/inst", b'{"event": "call", "instance": "other"}', AUTH, 422, "bad_instance"),
        ("/events", b'{"event": "call"}', AUTH, 422, "bad_instance"),
        (
            "/events/inst",
            b'{"event": "call", "data": "' + b"x" * 3000 + b'"}',
            AUTH,
            413,
            "too_large",
        ),
        (
            "/events/inst/batch",
            b'[{"event": "call"}, {"event": "nope"}]',
            AUTH,
            422,
            "unknown_event",
        ),
        ("/events/inst/batch", b'{"event": "call"}', AUTH, 422, "invalid"),
        ("/events/inst/batch", b"[]", AUTH, 422, "invalid"),
        (
            "/events/inst/batch",
            b"[" + b'{"event": "call"},' * 5 + b'{"event": "call"}]',
            AUTH,
            413,
            "too_large",
        ),
    ],
)
async def test_bad_input_gets_its_status_and_publishes_nothing(
    amqp_url: str,
    exchange_name: str,
    bind_queue: BindQueue,
    cleanup: Cleanup,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    queue = await bind_queue("#")
    settings = router_settings(
        amqp_url, exchange_name, router={"max_event_bytes": 2048, "max_batch_events": 5}
    )
    async with running_app(settings) as client:
        response = await client.post(path, data=body, headers=headers)
        assert response.status == status
        answer = await response.json()
        assert answer["error"] == error
        assert answer["message"]
        # A good event afterwards still goes through: the refusal harmed nothing.
        ok = await client.post("/events/after", json={"event": "call"}, headers=AUTH)
        assert ok.status == 202
    assert (await next_message(queue)).routing_key == "after.call"
    assert await depth(queue) == 0


async def test_unknown_event_names_the_nearest_ones(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        response = await client.post("/events/inst", json={"event": "grups.update"}, headers=AUTH)
        answer = await response.json()
    assert response.status == 422
    assert "groups.update" in answer["suggestions"]
    assert "groups.update" in answer["message"]


async def test_oversize_body_is_refused_from_content_length(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    settings = router_settings(amqp_url, exchange_name, router={"max_event_bytes": 1024})
    async with running_app(settings) as client:
        response = await client.post("/events/inst", data=b"{" + b" " * 5000 + b"}", headers=AUTH)
        assert response.status == 413


async def test_batch_json_and_ndjson_answer_ids_in_order(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("inst.#")
    items = [{"event": "messages.upsert", "data": {"n": i}} for i in range(20)]
    given = str(uuid.UUID(int=7 << 76 | 1 << 63 | 42))
    items[3]["id"] = given
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        as_json = await client.post("/events/inst/batch", json=items, headers=AUTH)
        ndjson = b"\n".join(orjson.dumps(i) for i in items[:5]) + b"\n"
        as_ndjson = await client.post(
            "/events/inst/batch",
            data=ndjson,
            headers={**AUTH, "Content-Type": "application/x-ndjson"},
        )
        assert as_json.status == 202
        assert as_ndjson.status == 202
        ids = (await as_json.json())["ids"]
        assert len(ids) == 20
        assert ids[3] == given
        again = (await as_ndjson.json())["ids"]
        assert len(again) == 5
        assert again[3] == given
    # The event sent again under an id confirmed moments before is not published twice.
    assert await depth(queue) == 24
    received = [orjson.loads((await next_message(queue)).body)["data"]["n"] for _ in range(24)]
    assert received == [*range(20), 0, 1, 2, 4]


async def test_evolution_webhook_body_can_be_posted_to_events(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    # Evolution's own webhook body carries the instance; POST /events takes it from there.
    queue = await bind_queue("evo-1.#")
    evolution_body = {
        "event": "messages.upsert",
        "instance": "evo-1",
        "data": {"key": {"id": "X"}},
        "destination": "http://router/events",
        "date_time": "2026-11-25T07:30:00.000-03:00",
        "sender": "5511@s.whatsapp.net",
        "server_url": "http://evo:8080",
        "apikey": "instance-token",
    }
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        response = await client.post("/events", json=evolution_body, headers=AUTH)
        assert response.status == 202
    body = orjson.loads((await next_message(queue)).body)
    assert body["date_time"] == "2026-11-25T10:30:00.000Z"
    assert body["apikey"] == "instance-token"
    assert "destination" not in body


async def test_outage_gives_503_and_recovers_without_restart(
    amqp_port: int, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("inst.#")
    proxy = TcpProxy("127.0.0.1", amqp_port)
    await proxy.start()
    settings = router_settings(f"amqp://guest:guest@127.0.0.1:{proxy.port}/", exchange_name)
    async with running_app(settings) as client:
        broker = client.app[BROKER]
        first = await client.post("/events/inst", json={"event": "call", "data": 1}, headers=AUTH)
        assert first.status == 202

        await proxy.cut()
        async with asyncio.timeout(10):
            while broker.ready:
                await asyncio.sleep(0.05)
        down = await client.post("/events/inst", json={"event": "call", "data": 2}, headers=AUTH)
        assert down.status == 503
        assert down.headers["Retry-After"] == "5"
        assert (await client.get("/readyz")).status == 503
        assert (await client.get("/healthz")).status == 200

        await proxy.restore()
        await broker.wait_ready(30)
        back = await client.post("/events/inst", json={"event": "call", "data": 3}, headers=AUTH)
        assert back.status == 202
        assert (await client.get("/readyz")).status == 200
    await proxy.cut()
    seen = [orjson.loads((await next_message(queue)).body)["data"] for _ in range(2)]
    assert seen == [1, 3]
    assert await depth(queue) == 0


async def test_metrics_count_accepted_and_refused(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        await client.post("/events/inst", json={"event": "labels.edit"}, headers=AUTH)
        await client.post("/events/inst", json={"event": "labels.edit"}, headers={})
        text = await (await client.get("/metrics")).text()
    assert 'router_events_accepted_total{event="labels.edit"}' in text
    assert 'router_events_refused_total{reason="unauthorized"}' in text
    assert "router_publish_seconds_bucket" in text
    assert "router_broker_connected 1.0" in text


async def test_large_and_chunked_bodies_are_read_whole(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("big.#")
    media = "A" * 300_000  # a base64 image, as Evolution sends with webhook base64 on
    payload = orjson.dumps({"event": "messages.upsert", "data": {"base64": media}})

    async def chunks(size: int, body: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(body), size):
            yield body[i : i + size]
            await asyncio.sleep(0)

    settings = router_settings(amqp_url, exchange_name, router={"max_event_bytes": 400_000})
    async with running_app(settings) as client:
        whole = await client.post("/events/big", data=payload, headers=AUTH)
        assert whole.status == 202
        chunked = await client.post("/events/big", data=chunks(7000, payload), headers=AUTH)
        assert chunked.status == 202
        too_big = await client.post("/events/big", data=chunks(7000, payload * 2), headers=AUTH)
        assert too_big.status == 413
    for _ in range(2):
        body = orjson.loads((await next_message(queue)).body)
        assert body["data"]["base64"] == media
    assert await depth(queue) == 0


async def test_a_missing_adapter_queue_is_refused_then_declared_again(
    amqp_url: str, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    from router.amqp.topology import AdapterQueues
    from tests.support.adapter import ScriptedAdapter

    queues = AdapterQueues.for_role(exchange_name, "webhook")
    cleanup.queue(queues.work)
    cleanup.queue(queues.dlq)
    offline = ScriptedAdapter(name="webhook", keys=frozenset({"*.call"}))
    # Without the archive, which takes every event in, the broker says when no queue took one
    # (with it, see tests/router/replay/test_refill.py).
    settings = router_settings(amqp_url, exchange_name, router={"archive_enabled": False})
    async with running_app(settings, ["ingest"], {"webhook": offline}) as client:
        await channel.queue_delete(queues.work)  # someone removed it by hand
        refused = await client.post("/events/inst", json={"event": "call", "data": 1}, headers=AUTH)
        assert refused.status == 503
        await client.app[BROKER].wait_ready(15)
        async with asyncio.timeout(10):
            while True:
                accepted = await client.post(
                    "/events/inst", json={"event": "call", "data": 2}, headers=AUTH
                )
                if accepted.status == 202:
                    break
                await asyncio.sleep(0.1)
    work = await channel.declare_queue(queues.work, passive=True)
    assert await depth(work) == 1
    assert orjson.loads((await next_message(work)).body)["data"] == 2
