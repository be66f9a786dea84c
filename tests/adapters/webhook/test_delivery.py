"""The webhook role end to end: HTTP ingest -> RabbitMQ -> webhook adapter -> a receiver on
loopback, with the real broker-side retries and DLQ."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import jwt
import orjson
import pytest
from standardwebhooks import Webhook

from adapters.webhook import ErrorsReporter, WebhookAdapter, build
from router.amqp.topology import AdapterQueues, quantize_delay_ms
from router.config.settings import Settings
from router.config.store import MemoryStore
from router.delivery import dlq
from router.delivery.adapter import Adapter
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.evolution import EvolutionWebhook
from tests.support.receiver import Answer, Receiver

AUTH = {"apikey": API_KEY}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST_RETRIES = {
    "retry_initial_delay_seconds": 0.2,
    "retry_jitter_factor": 0,
    "retry_max_attempts": 4,
    "retry_max_delay_seconds": 2,
}


@pytest.fixture
def hook_settings(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receiver: Receiver
) -> Callable[..., Settings]:
    for role in ("webhook", "webhook-errors"):
        queues = AdapterQueues.for_role(exchange_name, role)
        cleanup.queue(queues.work)
        cleanup.queue(queues.dlq)
        for seconds in (0.1, 0.2, 0.4, 0.8, 1.6, 2, 3, 4, 5, 10):
            cleanup.queue(queues.delay(quantize_delay_ms(seconds)))
    cleanup.exchange(f"{exchange_name}.dead")

    def make(**webhook: Any) -> Settings:
        values = {
            "global_enabled": True,
            "global_url": f"{receiver.base}/hook",
            "event_messages_upsert": True,
            "event_group_participants_update": True,
            "event_typebot_change_status": True,
            "event_call": True,
            **FAST_RETRIES,
            **webhook,
        }
        return router_settings(
            amqp_url, exchange_name, webhook=values, server={"url": "http://evo"}
        )

    return make


async def stored(*configs: InstanceConfig) -> MemoryStore:
    store = MemoryStore()
    for config in configs:
        await store.put(config)
    return store


async def post(client: Any, instance: str, event: str, data: Any = None) -> str:
    response = await client.post(
        f"/events/{instance}", json={"event": event, "data": data}, headers=AUTH
    )
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


async def test_global_webhook_gets_the_envelope_signed(
    hook_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    async with running_app(hook_settings(secret=SECRET)) as client:
        event_id = await post(client, "shop", "group-participants.update", {"id": "g1"})
        got = await receiver.next()
    assert got.path == "/hook"
    body = orjson.loads(got.body)
    assert body == {
        "id": event_id,
        "event": "group-participants.update",
        "instance": "shop",
        "data": {"id": "g1"},
        "destination": f"{receiver.base}/hook",
        "date_time": body["date_time"],
        "sender": None,
        "server_url": "http://evo",
        "apikey": None,
    }
    assert body["date_time"].endswith("Z")
    assert got.headers["webhook-id"] == event_id
    assert got.headers["X-Evrouter-Delivery"] == event_id  # how an ingest spots a loop
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("evrouter/")
    Webhook(SECRET).verify(got.body, got.headers)  # raises when the signature is wrong


async def test_by_events_posts_to_the_suffixed_urls(
    hook_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    settings = hook_settings(global_webhook_by_events=True, global_url=f"{receiver.base}/hook/")
    async with running_app(settings) as client:
        for event in (
            "messages.upsert",
            "group-participants.update",
            "typebot.change-status",
            "call",
        ):
            await post(client, "shop", event)
        await post(client, "shop", "chats.set")  # not switched on: not sent
        got = sorted([(await receiver.next()).path for _ in range(4)])
        with pytest.raises(TimeoutError):
            await receiver.next(timeout=0.5)
    assert got == [
        "/hook/call",
        "/hook/group-participants-update",
        "/hook/messages-upsert",
        "/hook/typebot-change-status",
    ]


async def test_failing_twice_then_accepting_delivers_on_the_third_attempt(
    hook_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    receiver.script = lambda _r, n: Answer(status=500) if n < 2 else Answer(status=200)
    async with running_app(hook_settings()) as client:
        event_id = await post(client, "shop", "call")
        attempts = [await receiver.next(timeout=10) for _ in range(3)]
        with pytest.raises(TimeoutError):
            await receiver.next(timeout=0.6)
    assert {a.headers["webhook-id"] for a in attempts} == {event_id}
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    # initial 0.2 s, doubled: 0.2 then 0.4 (the R10 series keeps both as they are)
    assert 0.18 <= gaps[0] < 0.6
    assert 0.38 <= gaps[1] < 0.9


async def test_non_retryable_status_goes_to_the_dlq_at_once_and_can_be_replayed(
    hook_settings: Callable[..., Settings], receiver: Receiver, amqp_url: str, exchange_name: str
) -> None:
    receiver.script = lambda _r, n: Answer(status=404, body=b"no such hook") if n == 0 else Answer()
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    async with running_app(hook_settings()) as client:
        event_id = await post(client, "shop", "call")
        await receiver.next()
        async with asyncio.timeout(5):
            while not (dead := await dlq.list_messages(amqp_url, queues.dlq)):
                await asyncio.sleep(0.05)
        assert dead[0].id == event_id
        assert dead[0].reason == "HTTP 404: no such hook (not retried)"
        assert dead[0].attempts == 1
        assert dead[0].destination == f"{receiver.base}/hook"
        assert len(receiver.requests) == 1

        assert await dlq.replay(amqp_url, queues.dlq) == 1
        again = await receiver.next()
    assert again.headers["webhook-id"] == event_id


async def test_after_max_attempts_the_event_is_dead_lettered(
    hook_settings: Callable[..., Settings], receiver: Receiver, amqp_url: str, exchange_name: str
) -> None:
    receiver.script = lambda _r, _n: Answer(status=502)
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    async with running_app(hook_settings(retry_max_attempts=3)) as client:
        await post(client, "shop", "call")
        for _ in range(3):
            await receiver.next()
        async with asyncio.timeout(5):
            while not (dead := await dlq.list_messages(amqp_url, queues.dlq)):
                await asyncio.sleep(0.05)
    assert dead[0].reason == "gave up after 3 attempts: HTTP 502: ok"
    assert dead[0].attempts == 3


async def test_retry_after_is_respected(
    hook_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    receiver.script = lambda _r, n: (
        Answer(status=429, headers={"Retry-After": "1"}) if n == 0 else Answer()
    )
    async with running_app(hook_settings()) as client:
        await post(client, "shop", "call")
        first = await receiver.next()
        second = await receiver.next(timeout=5)
    # backoff 0.2 s, so the wish (1 s) is capped at twice that: 0.4 s, never the bare 0.2 s
    assert 0.38 <= second.at - first.at < 1.0


async def test_a_hanging_receiver_does_not_slow_a_healthy_one(
    amqp_url: str,
    exchange_name: str,
    hook_settings: Callable[..., Settings],
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    receiver.script = lambda _r, _n: Answer(hang=30)
    settings = hook_settings(request_timeout_ms=3_000, endpoint_max_in_flight=4)
    store = await stored(
        InstanceConfig(
            instance="slow", webhooks=(WebhookConfig(label="s", url=f"{receiver.base}/slow"),)
        ),
        InstanceConfig(
            instance="fast", webhooks=(WebhookConfig(label="f", url=f"{other_receiver.base}/fast"),)
        ),
    )
    async with running_app(settings, store=store) as client:
        for i in range(40):
            await post(client, "slow", "call", i)
            await post(client, "fast", "call", i)
        started = asyncio.get_running_loop().time()
        fast = [
            orjson.loads((await other_receiver.next(timeout=10)).body)["data"] for _ in range(40)
        ]
        elapsed = asyncio.get_running_loop().time() - started
        assert len(receiver.requests) <= 4  # the cap: the rest wait in the retry queues
    assert sorted(fast) == list(range(40))
    assert elapsed < 5


async def test_several_subscriptions_are_independent(
    hook_settings: Callable[..., Settings], receiver: Receiver, other_receiver: Receiver
) -> None:
    receiver.script = lambda _r, n: Answer(status=500) if n < 2 else Answer()
    settings = hook_settings()
    store = await stored(
        InstanceConfig(
            instance="shop",
            webhooks=(
                WebhookConfig(label="bi", url=f"{receiver.base}/flaky"),
                WebhookConfig(
                    label="crm",
                    url=f"{other_receiver.base}/crm",
                    events=["call"],
                    headers={"X-Tenant": "shop", "jwt_key": "k" * 32},
                ),
            ),
        )
    )
    async with running_app(settings, store=store) as client:
        event_id = await post(client, "shop", "call")
        crm = await other_receiver.next()
        flaky = [await receiver.next(timeout=5) for _ in range(3)]
        with pytest.raises(TimeoutError):
            await other_receiver.next(timeout=1)
    assert len(other_receiver.requests) == 1
    assert {f.headers["webhook-id"] for f in flaky} == {event_id}
    assert crm.headers["X-Tenant"] == "shop"
    assert "jwt_key" not in {k.lower() for k in crm.headers}
    token = crm.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, "k" * 32, algorithms=["HS256"])
    assert claims["app"] == "evolution"
    assert claims["action"] == "webhook"
    assert claims["exp"] - claims["iat"] == 600


async def test_dead_letters_are_reported_to_the_errors_webhook(
    hook_settings: Callable[..., Settings], receiver: Receiver, other_receiver: Receiver
) -> None:
    receiver.script = lambda _r, _n: Answer(status=404)
    settings = hook_settings(
        events_errors=True, events_errors_webhook=f"{other_receiver.base}/errors"
    )
    async with running_app(settings) as client:
        event_id = await post(client, "shop", "messages.upsert", {"k": 1})
        report = orjson.loads((await other_receiver.next()).body)
    assert report["event"] == "error"
    assert report["type"] == "router.attempt.exhausted"
    assert report["event_id"] == event_id
    assert report["instance"] == "shop"
    assert report["original_event"] == "messages.upsert"
    assert report["adapter"] == "webhook"
    assert report["destination"] == f"{receiver.base}/hook"
    assert report["reason"].startswith("HTTP 404")
    assert report["attempts"] == 1
    assert report["last_status"] == 404


def test_the_role_builds_what_the_settings_ask_for(hook_settings: Callable[..., Settings]) -> None:
    from adapters.webhook import build

    built: list[Adapter] = build(
        hook_settings(events_errors=True, events_errors_webhook="http://e/")
    )
    assert [type(a) for a in built] == [WebhookAdapter, ErrorsReporter]
    alone = build(hook_settings(global_enabled=False))
    assert [type(a) for a in alone] == [WebhookAdapter]  # per-instance webhooks may come
    assert alone[0].routing_keys() == frozenset()
    nothing_on = {
        f"event_{k}": False
        for k in ("messages_upsert", "group_participants_update", "typebot_change_status", "call")
    }
    assert build(hook_settings(**nothing_on))[0].routing_keys() == frozenset()
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        build(hook_settings(secret="whsec_???"))


async def test_an_event_newer_than_the_catalog_reaches_hooks_that_take_every_event(
    hook_settings: Callable[..., Settings], receiver: Receiver, other_receiver: Receiver
) -> None:
    # The global webhook lists its events; the instance's takes every event.
    store = await stored(
        InstanceConfig(
            instance="shop",
            webhooks=(
                WebhookConfig(label="all", url=f"{other_receiver.base}/all", by_events=True),
            ),
        )
    )
    evolution = EvolutionWebhook(f"/ingest/evolution/{API_KEY}", by_events=True)
    async with running_app(hook_settings(), store=store) as client:
        accepted = await client.post(
            evolution.target("creds.update"),
            data=evolution.body("creds.update", "shop", {"creds": 1}),
            headers=evolution.request_headers(),
        )
        assert accepted.status == 202
        event_id = (await accepted.json())["id"]
        got = await other_receiver.next()
        # The generic API refuses it, as it would a typo.
        refused = await client.post("/events/shop", json={"event": "creds.update"}, headers=AUTH)
        assert refused.status == 422
        await post(client, "shop", "call")
        assert orjson.loads((await receiver.next()).body)["event"] == "call"
        text = await (await client.get("/metrics")).text()
    assert got.path == "/all/creds-update"
    body = orjson.loads(got.body)
    assert (body["id"], body["event"], body["data"]) == (event_id, "creds.update", {"creds": 1})
    assert [orjson.loads(r.body)["event"] for r in receiver.requests] == ["call"]
    assert 'router_events_uncatalogued_total{event="creds.update"} 1.0' in text


async def test_a_webhook_pointed_at_the_routers_own_ingest_is_a_loop_dead_lettered_once(
    amqp_url: str, exchange_name: str, hook_settings: Callable[..., Settings]
) -> None:
    async with running_app(hook_settings(retry_max_attempts=10)) as client:
        own = str(client.make_url(f"/ingest/evolution/{API_KEY}"))
        hook = {"enabled": True, "url": own, "events": ["CALL"]}
        answer = await client.post("/webhook/set/loop", json={"webhook": hook}, headers=AUTH)
        assert answer.status == 201, await answer.text()
        event_id = await post(client, "loop", "call", {"n": 1})
        dlq_name = AdapterQueues.for_role(exchange_name, "webhook").dlq
        async with asyncio.timeout(15):
            while not (letters := await dlq.list_messages(amqp_url, dlq_name)):
                await asyncio.sleep(0.1)
        text = await (await client.get("/metrics")).text()
    (letter,) = letters
    assert letter.id == event_id
    assert letter.attempts == 1  # final at once: the loop is refused, not retried
    assert "loop" in (letter.reason or "")
    assert 'router_events_refused_total{reason="loop"} 1.0' in text


def test_a_global_webhook_pointed_at_an_ingest_stops_start_up(
    hook_settings: Callable[..., Settings],
) -> None:
    settings = hook_settings(global_url="http://router:8080/ingest/evolution/s3cret")
    with pytest.raises(ValueError, match="points at a router's ingest") as caught:
        build(settings)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["hooks.example.com/in", "ftp://hooks.example.com/in", "http:///in", "not a url"]
)
def test_a_global_webhook_that_is_not_an_http_url_stops_start_up(
    hook_settings: Callable[..., Settings], url: str
) -> None:
    with pytest.raises(ValueError, match="must be an absolute http or https URL"):
        build(hook_settings(global_url=url))


def test_a_global_webhook_url_s_credentials_stay_out_of_the_refusal(
    hook_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValueError, match="absolute http") as caught:
        build(hook_settings(global_url="ftp://user:s3cret@hooks.example.com/in"))
    assert "s3cret" not in str(caught.value)


def test_a_receiver_whose_path_starts_with_events_is_not_a_loop(
    hook_settings: Callable[..., Settings],
) -> None:
    (adapter, *_) = build(hook_settings(global_url="https://hooks.example.com/events/whatsapp"))
    assert isinstance(adapter, WebhookAdapter)


async def test_the_api_refuses_a_webhook_to_a_metadata_address(
    hook_settings: Callable[..., Settings],
) -> None:
    store = MemoryStore()
    async with running_app(hook_settings(), store=store) as client:
        hook = {"enabled": True, "url": "http://169.254.169.254/latest/meta-data/"}
        answer = await client.post(
            "/webhook/set/shop", json={"webhook": {**hook, "events": ["CALL"]}}, headers=AUTH
        )
        assert answer.status == 422
        said = str(await answer.json())
        assert "SSRF" in said
        assert "cloud metadata" in said
    assert await store.get("shop") is None  # nothing stored


async def test_a_metadata_address_stored_behind_the_api_is_refused_at_connect_into_the_dlq(
    amqp_url: str, exchange_name: str, hook_settings: Callable[..., Settings]
) -> None:
    hooks = (WebhookConfig(url="http://169.254.169.254/latest/meta-data/", events=["CALL"]),)
    store = await stored(InstanceConfig(instance="shop", webhooks=hooks))
    async with running_app(hook_settings(global_enabled=False), store=store) as client:
        event_id = await post(client, "shop", "call", {"n": 1})
        dlq_name = AdapterQueues.for_role(exchange_name, "webhook").dlq
        async with asyncio.timeout(15):
            while not (letters := await dlq.list_messages(amqp_url, dlq_name)):
                await asyncio.sleep(0.1)
    (letter,) = letters
    assert letter.id == event_id
    assert letter.attempts == 1  # refused, not retried
    assert "SSRF" in (letter.reason or "")
    assert "cloud metadata" in (letter.reason or "")


@pytest.mark.parametrize("deny_private", [False, True])
async def test_a_name_that_resolves_to_a_private_address_is_refused_only_when_asked(
    amqp_url: str,
    exchange_name: str,
    hook_settings: Callable[..., Settings],
    receiver: Receiver,
    deny_private: bool,
) -> None:
    """``localhost`` is the receiver on loopback: delivered on an open guard, dead-lettered with
    WEBHOOK_DENY_PRIVATE_NETWORKS; the global webhook (the operator's own, on the same
    loopback) is delivered either way."""
    port = receiver.base.rsplit(":", 1)[1]
    hooks = (WebhookConfig(url=f"http://localhost:{port}/own", events=["CALL"]),)
    store = await stored(InstanceConfig(instance="shop", webhooks=hooks))
    settings = hook_settings(deny_private_networks=deny_private)
    async with running_app(settings, store=store) as client:
        event_id = await post(client, "shop", "call", {"n": 1})
        paths = {(await receiver.next()).path}
        if deny_private:
            dlq_name = AdapterQueues.for_role(exchange_name, "webhook").dlq
            async with asyncio.timeout(15):
                while not (letters := await dlq.list_messages(amqp_url, dlq_name)):
                    await asyncio.sleep(0.1)
            (letter,) = letters
            assert letter.id == event_id
            assert "loopback" in (letter.reason or "")
        else:
            paths.add((await receiver.next()).path)
    assert paths == ({"/hook"} if deny_private else {"/hook", "/own"})
