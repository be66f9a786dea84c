"""The pusher role end to end: HTTP ingest -> RabbitMQ -> Pusher adapter -> a Pusher HTTP API
stand-in on loopback that checks signatures and limits as Pusher does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from adapters.pusher.adapter import FAILURES, PusherAdapter
from router.amqp.topology import AdapterQueues
from router.config.settings import Settings
from router.config.store import MemoryStore
from router.delivery import dlq
from schemas import instance_word
from schemas.instance_config import InstanceConfig, PusherConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.pusher_standin import PusherStandIn, running_pusher

AUTH = {"apikey": API_KEY}


@pytest.fixture
async def standin() -> AsyncIterator[PusherStandIn]:
    apps = {
        "1001": ("key-1", "secret-1"),
        "2002": ("key-2", "secret-2"),
        "app-id": ("app-key", "app-secret"),  # Soketi's defaults
    }
    async with running_pusher(apps) as s:
        yield s


@pytest.fixture
def pusher_settings(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, standin: PusherStandIn
) -> Callable[..., Settings]:
    def make(**pusher: Any) -> Settings:
        values = {
            "enabled": True,
            "global_enabled": True,
            "global_app_id": "1001",
            "global_key": "key-1",
            "global_secret": "secret-1",
            "global_use_tls": False,
            "global_host": "127.0.0.1",
            "global_port": standin.port,
            "event_messages_upsert": True,
            "event_call": True,
            "batch_window_ms": 100,
            **pusher,
        }
        fast = {
            "retry_initial_delay_seconds": 0.2,
            "retry_jitter_factor": 0,
            "retry_max_attempts": 5,
        }
        return router_settings(amqp_url, exchange_name, pusher=values, webhook=fast)

    return make


async def post(client: Any, instance: str, body: Any) -> str:
    response = await client.post(f"/events/{instance}", json=body, headers=AUTH)
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


async def test_channel_event_name_and_data_are_exact(
    pusher_settings: Callable[..., Settings], standin: PusherStandIn
) -> None:
    async with running_app(pusher_settings()) as client:
        event_id = await post(
            client, "my-instance", {"event": "MESSAGES_UPSERT", "data": {"k": "ü"}}
        )
        got = await standin.next()
    assert (got.app_id, got.channel, got.name) == ("1001", "my-instance", "messages.upsert")
    data = orjson.loads(got.data)
    assert data["id"] == event_id
    assert data["instance"] == "my-instance"
    assert data["data"] == {"k": "ü"}
    assert "destination" not in data


@pytest.mark.parametrize(
    ("instance", "channel"),
    [
        ("client.one", "client.one"),
        ("user@mail.com", "user@mail.com"),
        ("Loja Centro", instance_word("Loja Centro")),
        ("joão", instance_word("joão")),
    ],
)
async def test_a_name_pusher_cannot_take_is_sent_on_its_word(
    pusher_settings: Callable[..., Settings], standin: PusherStandIn, instance: str, channel: str
) -> None:
    async with running_app(pusher_settings()) as client:
        await post(client, quote(instance, safe=""), {"event": "call", "data": {}})
        got = await standin.next()
    assert got.channel == channel
    assert orjson.loads(got.data)["instance"] == instance


async def test_twenty_five_events_take_three_batch_calls(
    pusher_settings: Callable[..., Settings], standin: PusherStandIn
) -> None:
    async with running_app(pusher_settings(batch_window_ms=300)) as client:
        items = [{"event": "call", "data": {"n": i}} for i in range(25)]
        response = await client.post("/events/shop/batch", json=items, headers=AUTH)
        assert response.status == 202
        got = [await standin.next() for _ in range(25)]
    assert sorted(orjson.loads(g.data)["data"]["n"] for g in got) == list(range(25))
    assert standin.calls.get("batch_events") == 3


async def test_oversize_goes_to_the_dlq_or_sends_a_notice(
    pusher_settings: Callable[..., Settings],
    standin: PusherStandIn,
    amqp_url: str,
    exchange_name: str,
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "pusher")
    big = {"blob": "é" * 6000}  # 12000 bytes of UTF-8: over 10 KB though under 10 K characters
    async with running_app(pusher_settings()) as client:
        event_id = await post(client, "shop", {"event": "call", "data": big})
        async with asyncio.timeout(10):
            while not (dead := await dlq.list_messages(amqp_url, queues.dlq)):
                await asyncio.sleep(0.05)
    assert dead[0].id == event_id
    assert dead[0].reason is not None
    assert dead[0].reason.startswith("payload_too_large:")
    assert standin.triggered == []

    async with running_app(pusher_settings(oversize_notice=True)) as client:
        event_id = await post(client, "shop", {"event": "call", "data": big})
        notice = await standin.next()
    assert orjson.loads(notice.data) == {
        "id": event_id,
        "event": "call",
        "instance": "shop",
        "oversize": True,
    }


async def test_a_401_is_not_retried(
    pusher_settings: Callable[..., Settings],
    standin: PusherStandIn,
    amqp_url: str,
    exchange_name: str,
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "pusher")
    async with running_app(pusher_settings(global_secret="wrong")) as client:
        await post(client, "shop", {"event": "call"})
        async with asyncio.timeout(10):
            while not (dead := await dlq.list_messages(amqp_url, queues.dlq)):
                await asyncio.sleep(0.05)
    assert dead[0].reason is not None
    assert dead[0].reason.startswith("HTTP 401")
    assert dead[0].attempts == 1
    assert standin.calls.get("batch_events") == 1


async def test_500_twice_then_200_is_delivered(
    pusher_settings: Callable[..., Settings], standin: PusherStandIn
) -> None:
    standin.fail_next(500, times=2)
    async with running_app(pusher_settings()) as client:
        event_id = await post(client, "shop", {"event": "call"})
        got = await standin.next(timeout=10)
    assert orjson.loads(got.data)["id"] == event_id
    assert standin.calls.get("batch_events") == 3


async def test_an_instance_with_its_own_app_uses_its_credentials(
    pusher_settings: Callable[..., Settings], standin: PusherStandIn
) -> None:
    store = MemoryStore()
    block = PusherConfig(
        enabled=True, app_id="2002", key="key-2", secret="secret-2", use_tls=False, events=["CALL"]
    )
    await store.put(InstanceConfig(instance="own", pusher=block))
    async with running_app(pusher_settings(global_enabled=False), store=store) as client:
        await post(client, "own", {"event": "call"})
        await post(client, "other", {"event": "call"})  # no app of its own, no global one
        got = await standin.next()
        with pytest.raises(TimeoutError):
            await standin.next(timeout=0.5)
    assert (got.app_id, got.channel, got.name) == ("2002", "own", "call")


async def test_app_ids_are_opaque_strings_as_soketi_has_them(
    pusher_settings: Callable[..., Settings], standin: PusherStandIn
) -> None:
    settings = pusher_settings(
        global_app_id="app-id", global_key="app-key", global_secret="app-secret"
    )
    async with running_app(settings) as client:
        sent = await post(client, "shop", {"event": "call"})
        got = await standin.next()
    assert (got.app_id, got.channel, orjson.loads(got.data)["id"]) == ("app-id", "shop", sent)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"global_app_id": "my app"}, "app id 'my app' cannot be used"),
        ({"global_secret": ""}, "app '1001' has no secret"),
    ],
)
def test_a_global_app_that_cannot_work_stops_start_up(
    pusher_settings: Callable[..., Settings], change: dict[str, str], said: str
) -> None:
    with pytest.raises(ValueError, match=said):
        PusherAdapter(pusher_settings(**change))


async def test_an_instance_app_that_cannot_work_is_said_once_and_the_rest_go_on(
    pusher_settings: Callable[..., Settings], standin: PusherStandIn
) -> None:
    store = MemoryStore()
    broken = PusherConfig(enabled=True, app_id="app/1", key="k", secret="s", use_tls=False)
    await store.put(InstanceConfig(instance="mixed", pusher=broken))
    before = FAILURES.labels(reason="invalid_app")._value.get()
    async with running_app(pusher_settings(), store=store) as client:
        for _ in range(3):
            await post(client, "mixed", {"event": "call"})
        got = [await standin.next() for _ in range(3)]
        with pytest.raises(TimeoutError):
            await standin.next(timeout=0.5)
    assert {g.app_id for g in got} == {"1001"}  # the global app has every event
    assert FAILURES.labels(reason="invalid_app")._value.get() - before == 1
