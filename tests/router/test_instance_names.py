"""Every instance name Evolution accepts, from Evolution's webhook to a global webhook, the
instance's own webhook, its SQS queue and a WebSocket client of that instance, carried
unchanged; where a name cannot be used as it is, its word (``schemas.instance``) is."""

from __future__ import annotations

from urllib.parse import quote

import orjson

from adapters.sqs.naming import queue_name
from router.config.store import MemoryStore
from schemas import instance_word
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.adapters.sqs.test_delivery import receive_all
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.evolution import EvolutionWebhook
from tests.support.moto import MotoServer
from tests.support.receiver import Receiver

NAMES = ["Loja Centro", "client.one", "user@mail.com", "joão", "filial/2", "ç" * 255, "my-instance"]


async def test_every_name_reaches_every_destination_unchanged(
    amqp_url: str,
    exchange_name: str,
    cleanup: Cleanup,
    moto: MotoServer,
    receivers: tuple[Receiver, Receiver],
) -> None:
    global_hook, own_hooks = receivers
    settings = router_settings(
        amqp_url,
        exchange_name,
        webhook={
            "global_enabled": True,
            "global_url": f"{global_hook.base}/all",
            "event_messages_upsert": True,
        },
        sqs={
            "enabled": True,
            "global_enabled": True,
            "event_messages_upsert": True,
            "endpoint_url": moto.url,
            "region": "us-east-1",
            "access_key_id": "test",
            "secret_access_key": "test",
            "batch_window_ms": 50,
        },
        websocket={"enabled": True, "global_events": True},
    )
    store = MemoryStore()
    for number, name in enumerate(NAMES):
        hook = WebhookConfig(url=f"{own_hooks.base}/own/{number}", by_events=True)
        await store.put(InstanceConfig(instance=name, webhooks=(hook,)))
    evolution = EvolutionWebhook(f"/ingest/evolution/{API_KEY}")
    async with running_app(settings, store=store) as client:
        sockets = [
            await client.ws_connect(f"/ws/{quote(name, safe='')}?token={API_KEY}") for name in NAMES
        ]
        ids = {}
        for number, name in enumerate(NAMES):
            answer = await client.post(
                evolution.url,
                data=evolution.body("messages.upsert", name, {"n": number}),
                headers=evolution.request_headers(),
            )
            assert answer.status == 202, await answer.text()
            ids[name] = (await answer.json())["id"]
        global_got = [orjson.loads((await global_hook.next()).body) for _ in NAMES]
        own_got = [await own_hooks.next() for _ in range(len(NAMES))]
        for name, ws in zip(NAMES, sockets, strict=True):
            frame = orjson.loads((await ws.receive(timeout=10)).data)
            assert (frame["instance"], frame["id"]) == (name, ids[name])
            await ws.close()
        # The generic API takes the same names in its path.
        direct = await client.post(
            f"/events/{quote('Loja Centro', safe='')}",
            json={"event": "messages.upsert", "data": {}},
            headers={"apikey": API_KEY},
        )
        assert direct.status == 202
        assert orjson.loads((await global_hook.next()).body)["instance"] == "Loja Centro"
        # While the router runs: the SQS role may still be sending when the webhooks are in.
        sqs = moto.client()
        for name in NAMES:
            queue = queue_name(name, "messages.upsert")
            assert queue == f"{instance_word(name)}-messages_upsert"
            # "Loja Centro" also got the event posted to /events.
            messages = await receive_all(sqs, queue, 2 if name == "Loja Centro" else 1)
            (message,) = [m for m in messages if orjson.loads(m["Body"])["id"] == ids[name]]
            body = orjson.loads(message["Body"])
            assert (body["instance"], body["id"]) == (name, ids[name])
            assert message["MessageAttributes"]["instance"]["StringValue"] == name
    assert {(b["instance"], b["id"]) for b in global_got} == set(ids.items())
    for request in own_got:
        body = orjson.loads(request.body)
        number = body["data"]["n"]
        assert request.path == f"/own/{number}/messages-upsert"
        assert (body["instance"], body["id"]) == (NAMES[number], ids[NAMES[number]])


def test_names_that_were_safe_keep_their_routing_keys_and_queues() -> None:
    assert instance_word("my-instance") == "my-instance"
    assert queue_name("my-instance", "messages.upsert") == "my-instance-messages_upsert"
    assert queue_name("Loja Centro", "call").startswith("Loja-Centro--")


def test_an_instance_named_like_the_wildcard_is_an_instance() -> None:
    from router.config.selection import event_keys

    assert event_keys(None, None) == {"*.#"}
    assert event_keys("*", None) == {f"{instance_word('*')}.#"}
    assert event_keys("*", frozenset({"call"})) == {f"{instance_word('*')}.call"}
