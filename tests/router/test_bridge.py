"""The bridge role against RabbitMQ: messages published exactly as Evolution's RabbitMQ output
publishes them (no properties, the wire name as routing key, global and per-instance exchanges)
become events on the router's exchange, confirmed before the source message is acked; what is
not an Evolution event is kept with its reason; a killed bridge loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractExchange
from aiohttp.test_utils import TestClient

from router.app import create_app
from router.bridge import BRIDGE, Bridge, same_broker
from router.config.settings import Settings
from router.config.store import MemoryStore
from schemas import instance_word
from schemas.instance_config import InstanceConfig
from tests.conftest import AMQP_URL, BindQueue, Cleanup
from tests.support.amqp import depth, next_message
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.process import RouterProcess, clean_env


def evolution_body(event: str, instance: str, data: Any) -> bytes:
    """The body Evolution's RabbitMQ output publishes: no destination, local time with a Z."""
    return orjson.dumps(
        {
            "event": event,
            "instance": instance,
            "data": data,
            "server_url": "http://evolution:8080",
            "date_time": datetime.now().isoformat(timespec="milliseconds") + "Z",
            "sender": "5511999999999@s.whatsapp.net",
            "apikey": None,
        }
    )


@pytest.fixture
def evolution_exchange(exchange_name: str, cleanup: Cleanup) -> str:
    cleanup.queue(f"{exchange_name}.bridge")
    cleanup.queue(f"{exchange_name}.bridge.dlq")
    return cleanup.exchange(f"{exchange_name}-evolution")


@pytest.fixture
def bridge_settings(
    amqp_url: str, exchange_name: str, evolution_exchange: str
) -> Callable[..., Settings]:
    def make(**bridge: Any) -> Settings:
        values = {"enabled": True, "exchange_name": evolution_exchange, **bridge}
        return router_settings(amqp_url, exchange_name, bridge=values)

    return make


@contextlib.asynccontextmanager
async def running_bridge(
    settings: Settings, roles: list[str] | None = None, store: MemoryStore | None = None
) -> AsyncIterator[tuple[TestClient[Any, Any], Bridge]]:
    """The app with the bridge role, once the bridge is connected to its source."""
    async with running_app(settings, roles or ["bridge"], store=store) as client:
        bridge = client.app[BRIDGE]
        await bridge.broker.wait_ready(15)
        yield client, bridge


async def evolution_publish(
    channel: AbstractChannel, exchange: str, event: str, body: bytes
) -> AbstractExchange:
    """As amqplib does in Evolution: assert the exchange, publish without properties."""
    found = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    await found.publish(aio_pika.Message(body), routing_key=event)
    return found


def test_the_same_broker_is_told_by_host_port_and_vhost() -> None:
    assert same_broker("amqp://a:b@h:5672/", "amqp://h")
    assert same_broker("amqp://h/%2F", "amqp://h:5672/")
    assert not same_broker("amqp://h/", "amqp://h/other")
    assert not same_broker("amqp://h:5673/", "amqp://h/")


def test_the_routers_own_exchange_is_refused_as_a_source(amqp_url: str, exchange_name: str) -> None:
    settings = router_settings(
        amqp_url, exchange_name, bridge={"enabled": True, "exchange_name": exchange_name}
    )
    with pytest.raises(ValueError, match="the bridge would read the router's own exchange"):
        create_app(settings, ["bridge"], store=MemoryStore())


async def test_global_mode_events_arrive_confirmed_and_a_redelivery_is_the_same_event(
    bridge_settings: Callable[..., Settings],
    evolution_exchange: str,
    bind_queue: BindQueue,
    channel: AbstractChannel,
) -> None:
    mine = await bind_queue("#")
    async with running_bridge(bridge_settings()) as (_, bridge):
        body = evolution_body("messages.upsert", "Loja Centro", {"key": {"id": "3EB0"}})
        for _ in range(2):  # Evolution's own retry of a publish sends the same body
            await evolution_publish(channel, evolution_exchange, "messages.upsert", body)
        await evolution_publish(
            channel, evolution_exchange, "creds.update", evolution_body("creds.update", "x", {})
        )
        first = await next_message(mine)
        second = await next_message(mine)
        bridge_queue = await channel.declare_queue(bridge.source.queue, passive=True)
        async with asyncio.timeout(10):
            while await depth(bridge_queue):
                await asyncio.sleep(0.05)
    envelope = orjson.loads(first.body)
    assert first.routing_key == f"{instance_word('Loja Centro')}.messages.upsert"
    assert (envelope["instance"], envelope["event"]) == ("Loja Centro", "messages.upsert")
    assert envelope["data"] == {"key": {"id": "3EB0"}}
    assert first.message_id == envelope["id"]
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert orjson.loads(second.body)["event"] == "creds.update"  # newer than the catalog
    assert await depth(mine) == 0  # the repeated body was the same event, published once


async def test_per_instance_exchanges_from_the_setting_and_the_store(
    bridge_settings: Callable[..., Settings],
    cleanup: Cleanup,
    bind_queue: BindQueue,
    channel: AbstractChannel,
) -> None:
    named, stored = f"Loja {uuid.uuid4().hex[:6]}", f"stored-{uuid.uuid4().hex[:6]}"
    cleanup.exchange(named)
    cleanup.exchange(stored)
    store = MemoryStore()
    await store.put(InstanceConfig(instance=stored))
    mine = await bind_queue("#")
    settings = bridge_settings(global_enabled=False, instances=named)
    async with running_bridge(settings, store=store):
        await evolution_publish(channel, named, "call", evolution_body("call", named, 1))
        await evolution_publish(channel, stored, "call", evolution_body("call", stored, 2))
        got = {orjson.loads((await next_message(mine)).body)["instance"] for _ in range(2)}
    assert got == {named, stored}


async def test_what_is_not_an_evolution_event_is_kept_with_its_reason(
    bridge_settings: Callable[..., Settings],
    evolution_exchange: str,
    bind_queue: BindQueue,
    channel: AbstractChannel,
) -> None:
    mine = await bind_queue("#")
    async with running_bridge(bridge_settings()) as (_, bridge):
        for poison in (b"not json", b'{"event": "call"}', b'{"event": "No such", "instance": "a"}'):
            await evolution_publish(channel, evolution_exchange, "call", poison)
        await evolution_publish(channel, evolution_exchange, "call", evolution_body("call", "a", 3))
        assert orjson.loads((await next_message(mine)).body)["data"] == 3
        dlq = await channel.declare_queue(bridge.source.dlq, passive=True)
        kept = [await next_message(dlq) for _ in range(3)]
    reasons = [str(message.headers["x-router-reason"]) for message in kept]
    assert reasons[0].startswith("not JSON")
    assert "'instance' is missing" in reasons[1]
    assert "unknown event 'No such'" in reasons[2]
    assert kept[0].body == b"not json"


async def test_a_killed_bridge_loses_nothing(
    amqp_url: str,
    exchange_name: str,
    evolution_exchange: str,
    bind_queue: BindQueue,
    channel: AbstractChannel,
) -> None:
    mine = await bind_queue("#")
    env = clean_env(
        RABBITMQ_URI=AMQP_URL,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        BRIDGE_ENABLED="true",
        BRIDGE_EXCHANGE_NAME=evolution_exchange,
        BRIDGE_PREFETCH="8",
        LOG_FORMAT="json",
    )
    bridge = RouterProcess(env, "--only", "bridge")
    await bridge.start()
    sent = 300
    try:
        for n in range(sent // 2):
            body = evolution_body("messages.upsert", "shop", n)
            await evolution_publish(channel, evolution_exchange, "messages.upsert", body)
        await bridge.kill()  # mid-stream: some taken, some unacked, the rest waiting
        for n in range(sent // 2, sent):
            body = evolution_body("messages.upsert", "shop", n)
            await evolution_publish(channel, evolution_exchange, "messages.upsert", body)
        bridge = RouterProcess(env, "--only", "bridge", port=bridge.port)
        await bridge.start()
        seen: set[int] = set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30), mine.iterator() as messages:
                async for message in messages:
                    await message.ack()
                    seen.add(orjson.loads(message.body)["data"])
                    if len(seen) == sent:
                        break
    finally:
        log = await bridge.stop()
    assert seen == set(range(sent)), log[-3000:]


async def test_an_instance_configured_while_the_bridge_runs_is_read_at_once_and_odd_names_skipped(
    bridge_settings: Callable[..., Settings],
    exchange_name: str,
    cleanup: Cleanup,
    bind_queue: BindQueue,
    channel: AbstractChannel,
) -> None:
    later = cleanup.exchange(f"later {uuid.uuid4().hex[:6]}")
    cleanup.queue(f"{instance_word(later)}.call")  # its own downstream queue, set below
    store = MemoryStore()
    # Names RabbitMQ refuses, or that are the router's own: skipped, the rest still read.
    for odd in ("x" * 200, "amq.odd", f"{exchange_name}.dead"):
        await store.put(InstanceConfig(instance=odd))
    mine = await bind_queue("#")
    settings = bridge_settings(global_enabled=False)
    async with running_bridge(settings, ["ingest", "bridge"], store) as (client, bridge):
        answer = await client.post(
            f"/rabbitmq/set/{quote(later, safe='')}",
            json={"rabbitmq": {"enabled": True, "events": ["CALL"]}},
            headers={"apikey": API_KEY},
        )
        assert answer.status in (200, 201), await answer.text()
        async with asyncio.timeout(10):
            while later not in bridge.bound:
                await asyncio.sleep(0.05)
        await evolution_publish(channel, later, "call", evolution_body("call", later, 1))
        got = orjson.loads((await next_message(mine)).body)
        assert bridge.broker.ready
    assert (got["instance"], got["event"]) == (later, "call")
