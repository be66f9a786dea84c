"""Confirmed publishing against the real broker: body, properties, concurrency, refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from router.amqp.broker import Broker, BrokerUnavailable
from router.amqp.publisher import Publisher, PublishFailed
from router.amqp.topology import Topology
from schemas import Envelope
from tests.conftest import BindQueue, Cleanup
from tests.support.amqp import depth, next_message


async def test_envelope_and_properties_reach_a_bound_queue(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("*.messages.upsert")
    async with Publisher.connect(
        amqp_url, exchange_name, server_url="http://evo:8080"
    ) as publisher:
        sent = await publisher.publish(
            "my-instance", "MESSAGES_UPSERT", {"key": {"id": "3EB0"}}, sender="5511@s.whatsapp.net"
        )
    message = await next_message(queue)
    body = orjson.loads(message.body)
    assert body == orjson.loads(sent.to_json())
    assert body["event"] == "messages.upsert"
    assert body["instance"] == "my-instance"
    assert body["server_url"] == "http://evo:8080"
    assert body["sender"] == "5511@s.whatsapp.net"
    assert "destination" not in body
    assert message.routing_key == "my-instance.messages.upsert"
    assert message.message_id == sent.id
    assert message.content_type == "application/json"
    assert message.delivery_mode == 2
    assert message.type == "messages.upsert"
    assert message.headers == {"instance": "my-instance", "event": "messages.upsert"}
    assert message.timestamp is not None
    stamped = message.timestamp.replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - stamped) < timedelta(seconds=5)


async def test_many_publishes_are_confirmed_together_in_order(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("batch.#")
    async with Publisher.connect(amqp_url, exchange_name) as publisher:
        envelopes = [
            Envelope.model_validate(
                {
                    "id": f"00000000-0000-7000-8000-{i:012d}",
                    "event": "call",
                    "instance": "batch",
                    "data": i,
                }
            )
            for i in range(300)
        ]
        results = await publisher.publish_envelopes(envelopes)
    assert [r.envelope.id for r in results if not isinstance(r, PublishFailed)] == [
        e.id for e in envelopes
    ]
    assert await depth(queue) == 300


async def test_unrouted_event_is_confirmed_but_reported(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with Publisher.connect(amqp_url, exchange_name) as publisher:
        envelope = await publisher.publish("nobody", "call", {})
        (result,) = await publisher.publish_envelopes([envelope])
    assert not isinstance(result, PublishFailed)
    assert result.routed is False


async def test_a_broker_nack_is_a_failure_not_a_success(
    amqp_url: str, exchange_name: str, channel: object, cleanup: Cleanup
) -> None:
    # A full queue with reject-publish makes the broker nack: the publisher must not report
    # the event as accepted.
    import aio_pika

    async with Publisher.connect(amqp_url, exchange_name) as publisher:
        conn = await aio_pika.connect(amqp_url)
        try:
            ch = await conn.channel()
            ex = await ch.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            full = await ch.declare_queue(
                cleanup.queue(f"{exchange_name}.full"),
                arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
            )
            await full.bind(ex, "full.#")
            with pytest.raises(PublishFailed, match="refused"):
                await publisher.publish("full", "call", {})
        finally:
            await conn.close()


async def test_publishing_without_a_broker_raises_at_once() -> None:
    broker = Broker("amqp://guest:guest@127.0.0.1:1/", name="nowhere")
    publisher = Publisher(broker, Topology(exchange="unused"))
    await broker.start()
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(BrokerUnavailable):
            await publisher.publish("inst", "call", {})
        assert asyncio.get_running_loop().time() - started < 1
    finally:
        await broker.close()


async def test_invalid_input_is_refused_before_publishing(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("#")
    async with Publisher.connect(amqp_url, exchange_name) as publisher:
        with pytest.raises(ValueError, match="did you mean"):
            await publisher.publish("inst", "mesages.upsert", {})
        with pytest.raises(ValueError, match="control character"):
            await publisher.publish("a\nb", "call", {})
    assert await depth(queue) == 0
