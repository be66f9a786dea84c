"""Topology: names derived from the exchange, retry-delay rounding, the whole topology declared
by every role, and per-event queues for downstream AMQP consumers."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aio_pika.abc import AbstractChannel

from router.amqp.topology import (
    AdapterQueues,
    binding_changes,
    downstream_queue_name,
    quantize_delay_ms,
)
from router.app import topology_for
from tests.conftest import Cleanup
from tests.support.adapter import ScriptedAdapter
from tests.support.amqp import depth, next_message
from tests.support.app import API_KEY, router_settings, running_app

AUTH = {"apikey": API_KEY}


@pytest.mark.parametrize(
    ("old", "new", "to_bind", "to_unbind"),
    [
        ((), ("a.x", "b.x"), ["a.x", "b.x"], []),
        (("a.x", "b.x"), (), [], ["a.x", "b.x"]),
        (("b.x", "a.x"), ("c.x", "a.x"), ["c.x"], ["b.x"]),
        (("a.x",), ("a.x",), [], []),
    ],
)
def test_binding_changes_leave_kept_keys_alone(
    old: tuple[str, ...], new: tuple[str, ...], to_bind: list[str], to_unbind: list[str]
) -> None:
    assert binding_changes(old, new) == (to_bind, to_unbind)


def test_adapter_queue_names_derive_from_the_exchange() -> None:
    queues = AdapterQueues.for_role("evolution_exchange", "webhook")
    assert queues.work == "evolution_exchange.webhook"
    assert queues.dlq == "evolution_exchange.webhook.dlq"
    assert queues.delay(5000) == "evolution_exchange.webhook.delay.5000ms"
    assert queues.legacy_retry(5000) == "evolution_exchange.webhook.retry.5000ms"
    args = queues.delay_arguments(5000)
    assert args["x-message-ttl"] == 5000
    assert args["x-dead-letter-routing-key"] == "evolution_exchange.webhook"
    assert args["x-queue-type"] == "quorum"
    assert "x-expires" not in args  # a queue that holds messages must never expire
    assert queues.work_arguments()["x-dead-letter-exchange"] == "evolution_exchange.dead"
    assert queues.work_arguments()["x-dead-letter-routing-key"] == "webhook"


@pytest.mark.parametrize(
    ("seconds", "ms"),
    [
        (0.0, 100),
        (0.2, 200),
        (1, 1000),
        (4.2, 4000),
        (5, 5000),
        (6, 6300),
        (9.9, 10000),
        (300, 315000),
    ],
)
def test_retry_delays_round_to_the_r10_series(seconds: float, ms: int) -> None:
    assert quantize_delay_ms(seconds) == ms


def test_every_delay_maps_to_a_few_queues() -> None:
    # Jittered delays between 0.1 s and 5 min share about 35 queues, never thousands.
    delays = {quantize_delay_ms(s / 100) for s in range(10, 30000)}
    assert len(delays) <= 36
    assert all(abs(quantize_delay_ms(s) / (s * 1000) - 1) < 0.13 for s in (0.3, 1.7, 7, 42, 250))


def test_downstream_names_follow_the_prefix() -> None:
    assert downstream_queue_name("evolution", "messages.upsert") == "evolution.messages.upsert"
    assert downstream_queue_name("", "messages.upsert") == "messages.upsert"
    settings = router_settings(
        "amqp://x",
        "ex",
        rabbitmq={
            "enabled": True,
            "global_enabled": True,
            "prefix_key": "p",
            "event_messages_upsert": True,
            "event_groups_update": True,
        },
    )
    assert topology_for(settings, {}).downstream_queues == (
        ("p.groups.update", "*.groups.update"),
        ("p.messages.upsert", "*.messages.upsert"),
    )
    disabled = router_settings(
        "amqp://x", "ex", rabbitmq={"global_enabled": True, "event_call": True}
    )
    assert topology_for(disabled, {}).downstream_queues == ()


async def test_downstream_consumers_get_a_queue_per_enabled_event(
    amqp_url: str, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    for wire in ("messages.upsert", "group-participants.update"):
        cleanup.queue(f"{prefix}.{wire}")
    settings = router_settings(
        amqp_url,
        exchange_name,
        rabbitmq={
            "enabled": True,
            "global_enabled": True,
            "prefix_key": prefix,
            "event_messages_upsert": True,
            "event_group_participants_update": True,
        },
    )
    async with running_app(settings, ["ingest"]) as client:
        for instance, event in (
            ("a", "messages.upsert"),
            ("b", "messages.upsert"),
            ("a", "group-participants.update"),
            ("a", "call"),
        ):
            response = await client.post(f"/events/{instance}", json={"event": event}, headers=AUTH)
            assert response.status == 202
    upserts = await channel.declare_queue(f"{prefix}.messages.upsert", passive=True)
    participants = await channel.declare_queue(f"{prefix}.group-participants.update", passive=True)
    assert await depth(upserts) == 2
    assert await depth(participants) == 1
    message = await next_message(participants)
    assert orjson.loads(message.body)["event"] == "group-participants.update"


async def test_ingest_declares_adapter_queues_so_nothing_waits_unrouted(
    amqp_url: str, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    """An event accepted while the adapter role is down waits in its queue."""
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    cleanup.queue(queues.work)
    cleanup.queue(queues.dlq)
    settings = router_settings(amqp_url, exchange_name)
    offline = ScriptedAdapter(name="webhook", keys=frozenset({"*.call"}))
    async with running_app(settings, ["ingest"], {"webhook": offline}) as client:
        response = await client.post(
            "/events/inst", json={"event": "call", "data": 7}, headers=AUTH
        )
        assert response.status == 202
    assert offline.deliveries == []
    work = await channel.declare_queue(queues.work, passive=True)
    assert await depth(work) == 1

    online = ScriptedAdapter(name="webhook", keys=frozenset({"*.call"}))
    async with running_app(settings, ["webhook"], {"webhook": online}):
        delivery = await online.next()
    assert delivery.envelope.data == 7
    assert online.started
    assert online.closed


def test_roles_are_checked() -> None:
    from router.app import resolve_roles

    adapter = ScriptedAdapter(name="webhook")
    assert resolve_roles(None, {"webhook": adapter}) == ["ingest", "webhook"]
    with pytest.raises(ValueError, match="not enabled"):
        resolve_roles(["sqs"], {"webhook": adapter})
    with pytest.raises(ValueError, match="unknown role"):
        resolve_roles(["mailer"], {})


async def test_a_stream_kept_with_other_retention_is_used_as_it_is(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    import aio_pika

    from router.amqp.topology import StreamBinding, Topology, declare

    name = f"{exchange_name}.websocket"
    first = StreamBinding(name, frozenset({"*.call"}), "1D", 10_000_000)
    changed = StreamBinding(name, frozenset({"*.call", "a.#"}), "12h", 20_000_000)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await declare(channel, Topology(exchange=exchange_name, streams=(first,)))
        # Other retention refuses the declaration; the stream stays, bound and usable.
        exchange = await declare(channel, Topology(exchange=exchange_name, streams=(changed,)))
        assert not channel.is_closed
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="a.messages.upsert")
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="b.call")
        reader = await connection.channel()
        await reader.set_qos(prefetch_count=10)
        got: asyncio.Queue[str] = asyncio.Queue()

        async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await got.put(message.routing_key or "")
            await message.ack()

        stream = await reader.get_queue(name, ensure=False)
        await stream.consume(take, arguments={"x-stream-offset": "first"})
        keys = [await asyncio.wait_for(got.get(), 5) for _ in range(2)]
        assert keys == ["a.messages.upsert", "b.call"]  # the new binding took effect too
    finally:
        await connection.close()
