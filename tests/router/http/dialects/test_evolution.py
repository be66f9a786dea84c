"""Evolution's calls: /{block}/set and /{block}/find, PUT and DELETE /instances, and every
refusal storing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from router.http.dialects.common import MASK
from schemas.catalog import CATALOG
from tests.router.http.dialects.conftest import API_KEY, Harness, dialects_app

ALL_KEYS = [event.key for event in CATALOG]
HOOK = {
    "enabled": True,
    "url": "https://crm.example/hook",
    "headers": {"Authorization": "Bearer abc"},
    "byEvents": True,
    "base64": False,
    "events": ["MESSAGES_UPSERT", "connection.update", "GROUP_UPDATE"],
}


def without_times(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["createdAt"].endswith("Z")
    assert answer["updatedAt"].endswith("Z")
    return {k: v for k, v in answer.items() if k not in ("createdAt", "updatedAt")}


async def test_webhook_set_and_find(harness: Harness) -> None:
    answer = await harness.ok("POST", "/webhook/set/shop", {"webhook": HOOK}, status=201)
    assert without_times(answer) == {
        "enabled": True,
        "url": "https://crm.example/hook",
        "headers": {"Authorization": "********"},  # credentials never shown
        "webhookByEvents": True,
        "webhookBase64": False,
        "events": ["MESSAGES_UPSERT", "CONNECTION_UPDATE", "GROUPS_UPDATE"],
        "instance": "shop",
    }
    assert await harness.ok("GET", "/webhook/find/shop") == answer
    stored = await harness.store.get("shop")
    assert stored is not None
    hook = stored.webhook("default")
    assert hook is not None
    assert hook.events == ["messages.upsert", "connection.update", "groups.update"]
    assert (hook.by_events, hook.base64, hook.headers) == (True, False, HOOK["headers"])
    assert harness.announced == ["shop"]
    # Sending the masked value back keeps the stored credential.
    masked = {**HOOK, "headers": {"Authorization": "********", "X-New": "1"}}
    await harness.ok("POST", "/webhook/set/shop", {"webhook": masked}, status=201)
    kept = await harness.store.get("shop")
    assert kept is not None
    assert kept.webhooks[0].headers == {"Authorization": "Bearer abc", "X-New": "1"}


async def test_a_urls_credentials_are_masked_in_answers_and_kept_when_sent_back(
    harness: Harness,
) -> None:
    url = "https://crm:s3cret@crm.example/hook?token=t0ken&tenant=t1"
    hook = {**HOOK, "url": url}
    answer = await harness.ok("POST", "/webhook/set/shop", {"webhook": hook}, status=201)
    shown = answer["url"]
    assert shown == "https://crm:***@crm.example/hook?token=***&tenant=t1"
    # What a client read back, sent again with a change: the stored URL stays whole, by the
    # block's own path and by the creation body alike.
    for method, path, body in (
        ("POST", "/webhook/set/shop", {"webhook": {**HOOK, "url": shown, "byEvents": False}}),
        ("PUT", "/instances/shop", {"webhook": {**HOOK, "url": shown}}),
    ):
        await harness.ok(method, path, body, status=(201 if method == "POST" else 200))
        stored = await harness.store.get("shop")
        assert stored is not None
        assert stored.webhooks[0].url == url
    # A new URL replaces it.
    await harness.ok(
        "POST", "/webhook/set/shop", {"webhook": {"url": "https://other.example/h"}}, status=201
    )
    stored = await harness.store.get("shop")
    assert stored is not None
    assert stored.webhooks[0].url == "https://other.example/h"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://a.example", "webhook_by_events": True, "webhook_base64": True},
        {"url": "https://a.example", "webhookByEvents": True, "webhookBase64": True},
        {"webhook": {"url": "https://a.example", "byEvents": True, "base64": True}},
    ],
    ids=["v1-snake", "v1-camel", "v2"],
)
async def test_webhook_set_accepts_every_release_spelling(
    harness: Harness, body: dict[str, Any]
) -> None:
    answer = await harness.ok("POST", "/webhook/set/shop", body, status=201)
    assert (answer["webhookByEvents"], answer["webhookBase64"]) == (True, True)
    # Enabled with no events chosen sends everything, and Evolution lists everything.
    assert answer["enabled"] is True
    assert answer["events"] == ALL_KEYS
    stored = await harness.store.get("shop")
    assert stored is not None
    assert stored.webhooks[0].events == []


async def test_webhook_set_again_keeps_what_it_does_not_send(harness: Harness) -> None:
    first = await harness.ok("POST", "/webhook/set/shop", {"webhook": HOOK}, status=201)
    second = await harness.ok(
        "POST", "/webhook/set/shop", {"webhook": {"enabled": False}}, status=201
    )
    assert second["enabled"] is False
    assert second["url"] == first["url"]
    assert second["headers"] == first["headers"]
    assert second["events"] == first["events"]
    assert second["createdAt"] == first["createdAt"]
    assert harness.announced == ["shop", "shop"]


async def test_find_of_an_unknown_instance_is_the_disabled_default(harness: Harness) -> None:
    assert await harness.ok("GET", "/webhook/find/nobody") is None  # as Evolution answers
    for name in ("rabbitmq", "sqs", "websocket"):
        assert await harness.ok("GET", f"/{name}/find/nobody") == {
            "enabled": False,
            "events": [],
            "instance": "nobody",
        }
    assert await harness.store.all() == []
    assert harness.announced == []


@pytest.mark.parametrize("name", ["rabbitmq", "sqs", "websocket"])
@pytest.mark.parametrize("wrapped", [True, False])
async def test_channel_set_and_find(harness: Harness, name: str, wrapped: bool) -> None:
    block = {"enabled": True, "events": ["messages.upsert", "CALL", "qrcodeUpdated"]}
    body = {name: block} if wrapped else block
    answer = await harness.ok("POST", f"/{name}/set/shop", body, status=201)
    expected = {
        "enabled": True,
        "events": ["MESSAGES_UPSERT", "CALL", "QRCODE_UPDATED"],
        "instance": "shop",
    }
    assert answer == expected
    assert await harness.ok("GET", f"/{name}/find/shop") == expected
    stored = await harness.store.get("shop")
    assert stored is not None
    assert stored.model_dump()[name] == {
        "enabled": True,
        "events": ["messages.upsert", "call", "qrcode.updated"],
    }
    assert harness.announced == ["shop"]


PUSHER = {
    "enabled": True,
    "appId": "123",
    "key": "pk",
    "secret": "s3cret",
    "cluster": "eu",
    "useTLS": True,
    "events": ["SEND_MESSAGE"],
}


async def test_pusher_set_masks_the_secret_and_keeps_it_when_sent_back(harness: Harness) -> None:
    answer = await harness.ok("POST", "/pusher/set/shop", {"pusher": PUSHER}, status=201)
    assert answer == {
        "enabled": True,
        "events": ["SEND_MESSAGE"],
        "instance": "shop",
        "appId": "123",
        "key": "pk",
        "secret": "********",
        "cluster": "eu",
        "useTLS": True,
    }
    found = await harness.ok("GET", "/pusher/find/shop")
    assert found == answer
    found.pop("instance")
    await harness.ok("POST", "/pusher/set/shop", {"pusher": found | {"cluster": "us2"}}, status=201)
    stored = await harness.store.get("shop")
    assert stored is not None
    assert (stored.pusher.secret, stored.pusher.cluster) == ("s3cret", "us2")


async def test_evolution_webhook_leaves_labelled_webhooks_alone(harness: Harness) -> None:
    await harness.ok(
        "POST", "/api/events/webhook/shop", {"label": "crm", "url": "https://crm.example"}, 201
    )
    await harness.ok("POST", "/webhook/set/shop", {"url": "https://evo.example"}, status=201)
    stored = await harness.store.get("shop")
    assert stored is not None
    assert sorted((w.label, w.url) for w in stored.webhooks) == [
        ("crm", "https://crm.example"),
        ("default", "https://evo.example"),
    ]


CREATION = {
    "instanceName": "shop",
    "qrcode": True,
    "integration": "WHATSAPP-BAILEYS",
    "chatwootUrl": "https://chat.example",
    "webhook": {
        "url": "https://crm.example/hook",
        "byEvents": False,
        "base64": True,
        "headers": {"X-Tenant": "7"},
        "events": ["MESSAGES_UPSERT"],
    },
    "rabbitmq": {"enabled": True, "events": ["CALL"]},
    "sqs": {"enabled": False, "events": []},
    "websocket": {"events": ["MESSAGES_UPDATE"]},
    "pusher": PUSHER,
}


async def test_put_instance_takes_every_block_at_once(harness: Harness) -> None:
    answer = await harness.ok("PUT", "/instances/shop", CREATION, status=201)
    assert answer["instance"] == "shop"
    assert without_times(answer["webhook"]) == {
        "enabled": True,  # a block that is sent is switched on, as in Evolution
        "url": "https://crm.example/hook",
        "headers": {"X-Tenant": "7"},
        "webhookByEvents": False,
        "webhookBase64": True,
        "events": ["MESSAGES_UPSERT"],
        "instance": "shop",
    }
    assert answer["rabbitmq"] == {"enabled": True, "events": ["CALL"], "instance": "shop"}
    assert answer["sqs"] == {"enabled": False, "events": [], "instance": "shop"}
    assert answer["websocket"] == {
        "enabled": True,
        "events": ["MESSAGES_UPDATE"],
        "instance": "shop",
    }
    assert answer["pusher"]["secret"] == "********"
    assert harness.announced == ["shop"]
    for name in ("webhook", "rabbitmq", "sqs", "websocket", "pusher"):
        assert await harness.ok("GET", f"/{name}/find/shop") == answer[name]


async def test_put_instance_replaces_its_blocks_and_keeps_other_dialects_webhooks(
    harness: Harness,
) -> None:
    first = await harness.ok("PUT", "/instances/shop", CREATION, status=201)
    await harness.ok(
        "POST", "/api/events/webhook/shop", {"label": "crm", "url": "https://crm.example"}, 201
    )
    answer = await harness.ok("PUT", "/instances/shop", {"sqs": {}}, status=200)
    assert answer["webhook"]["enabled"] is False
    assert answer["rabbitmq"]["enabled"] is False
    assert answer["sqs"] == {"enabled": True, "events": ALL_KEYS, "instance": "shop"}
    stored = await harness.store.get("shop")
    assert stored is not None
    # Evolution's own webhook is gone; the one written through RyzeAPI is not Evolution's to drop.
    assert [w.label for w in stored.webhooks] == ["crm"]
    assert first["webhook"]["enabled"] is True


async def test_put_instance_accepts_flat_creation_fields(harness: Harness) -> None:
    body = {
        "instanceName": "shop",
        "webhook": "https://crm.example/hook",
        "webhook_by_events": True,
        "events": ["messages.upsert"],
        "rabbitmqEnabled": True,
        "rabbitmqEvents": ["CALL"],
        "sqsEnabled": False,
        "websocketEnabled": True,
        "websocketEvents": [],
        "proxyHost": "10.0.0.1",
        "typebotUrl": "https://bot.example",
    }
    answer = await harness.ok("PUT", "/instances/shop", body, status=201)
    assert answer["webhook"]["url"] == "https://crm.example/hook"
    assert answer["webhook"]["webhookByEvents"] is True
    assert answer["webhook"]["events"] == ["MESSAGES_UPSERT"]
    assert answer["rabbitmq"]["events"] == ["CALL"]
    assert answer["sqs"]["enabled"] is False
    assert answer["websocket"] == {"enabled": True, "events": ALL_KEYS, "instance": "shop"}


async def test_put_instance_with_an_empty_webhook_sets_none(harness: Harness) -> None:
    body = {"instanceName": "shop", "webhook": "", "webhook_by_events": False, "events": []}
    answer = await harness.ok("PUT", "/instances/shop", body, status=201)
    assert answer["webhook"]["enabled"] is False
    assert answer["webhook"]["url"] == ""


async def test_delete_instance(harness: Harness) -> None:
    await harness.ok("POST", "/sqs/set/shop", {"enabled": True}, status=201)
    assert await harness.ok("DELETE", "/instances/shop") == {"deleted": True}
    assert await harness.store.all() == []
    assert harness.announced == ["shop", "shop"]
    answer = await harness.refused("DELETE", "/instances/shop", status=404, error="not_found")
    assert "shop" in answer["message"]


async def test_bearer_token_is_accepted(harness: Harness) -> None:
    response = await harness.client.get(
        "/webhook/find/shop", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status == 200


async def test_an_empty_api_key_leaves_the_routes_open() -> None:
    async with dialects_app("") as running:
        response = await running.client.post("/sqs/set/shop", json={"enabled": True})
        assert response.status == 201


@pytest.mark.parametrize(
    "headers", [{}, {"apikey": "wrong"}, {"Authorization": "Bearer wrong"}], ids=str
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhook/set/shop"),
        ("GET", "/webhook/find/shop"),
        ("POST", "/pusher/set/shop"),
        ("GET", "/sqs/find/shop"),
        ("PUT", "/instances/shop"),
        ("DELETE", "/instances/shop"),
    ],
)
async def test_every_route_needs_the_key(
    harness: Harness, headers: dict[str, str], method: str, path: str
) -> None:
    await harness.refused(
        method,
        path,
        {"url": "https://a.example"},
        headers=headers,
        status=401,
        error="unauthorized",
    )


@pytest.mark.parametrize(
    ("path", "raw", "fragment"),
    [
        ("/webhook/set/shop", b'{"url": ', "not valid JSON"),
        ("/webhook/set/shop", b"", "empty"),
        ("/webhook/set/shop", b'["https://a.example"]', "not an array"),
        ("/rabbitmq/set/shop", b"true", "not a boolean"),
    ],
)
async def test_malformed_bodies(harness: Harness, path: str, raw: bytes, fragment: str) -> None:
    answer = await harness.refused("POST", path, raw=raw, status=400, error="malformed_json")
    assert fragment in answer["message"]


BAD = "https://a.example"


@pytest.mark.parametrize(
    ("path", "body", "fragments"),
    [
        ("/webhook/set/shop", {"webhook": {"url": "ftp://files.example"}}, ["webhook.url", "http"]),
        ("/webhook/set/shop", {"webhook": {"enabled": True}}, ["webhook.url is required"]),
        ("/webhook/set/shop", {"webhook": "https://a.example"}, ["webhook must be an object"]),
        ("/webhook/set/shop", {"url": BAD, "enabled": "yes"}, ["enabled", "true or false"]),
        ("/webhook/set/shop", {"url": BAD, "events": "CALL"}, ["events", "array"]),
        ("/webhook/set/shop", {"url": BAD, "headers": {"X": 1}}, ["headers"]),
        ("/webhook/set/shop", {"url": BAD, "headers": {"a b": "1"}}, ["header name"]),
        (
            "/webhook/set/shop",
            {"url": BAD, "byEvents": True, "webhook_by_events": False},
            ["byEvents", "webhook_by_events", "disagree"],
        ),
        ("/pusher/set/shop", {"pusher": {"enabled": True, "key": "k"}}, ["appId", "secret"]),
        ("/pusher/set/shop", {"pusher": {"useTLS": "no"}}, ["pusher.useTLS"]),
        ("/instances/shop", {"instanceName": "other"}, ["instanceName", "shop"]),
        ("/instances/shop", {"nats": {"enabled": True}}, ["nats"]),
        ("/instances/shop", {"rabbitmq": True}, ["rabbitmq must be an object"]),
        (
            "/instances/shop",
            {"webhook": {"url": BAD}, "webhookUrl": "https://b.example"},
            ["webhook.url", "webhookUrl", "disagree"],
        ),
        ("/instances/shop", {"webhook": {"url": "ftp://x.example"}}, ["webhook.url"]),
    ],
)
async def test_invalid_bodies_are_refused_with_what_to_fix(
    harness: Harness, path: str, body: dict[str, Any], fragments: list[str]
) -> None:
    method = "PUT" if path.startswith("/instances") else "POST"
    answer = await harness.refused(method, path, body, status=422, error="invalid")
    for fragment in fragments:
        assert fragment in answer["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/webhook/set/shop", {"url": BAD, "events": ["MESSAGE_UPSERT"]}),
        ("/rabbitmq/set/shop", {"rabbitmq": {"enabled": True, "events": ["MESSAGE_UPSERT"]}}),
        ("/instances/shop", {"sqs": {"events": ["MESSAGE_UPSERT"]}}),
    ],
)
async def test_unknown_events_are_refused_with_suggestions(
    harness: Harness, path: str, body: dict[str, Any]
) -> None:
    method = "PUT" if path.startswith("/instances") else "POST"
    answer = await harness.refused(method, path, body, status=422, error="unknown_event")
    assert "MESSAGE_UPSERT" in answer["message"]
    assert answer["suggestions"][0] == "messages.upsert"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhook/set/my%0Ainst"),
        ("GET", "/webhook/find/my%0Ainst"),
        ("PUT", "/instances/my%0Ainst"),
        ("DELETE", "/instances/my%0Ainst"),
    ],
)
async def test_bad_instance_names_are_refused(harness: Harness, method: str, path: str) -> None:
    answer = await harness.refused(method, path, {"url": BAD}, status=422, error="bad_instance")
    assert "control character" in answer["message"]


async def test_a_fourth_enabled_webhook_is_refused(harness: Harness) -> None:
    for label in ("a", "b", "c"):
        await harness.ok(
            "POST", "/api/events/webhook/shop", {"label": label, "url": BAD}, status=201
        )
    answer = await harness.refused(
        "POST", "/webhook/set/shop", {"url": BAD}, status=422, error="invalid"
    )
    assert "at most 3" in answer["message"]
    # A disabled one is no fourth enabled webhook.
    await harness.ok("POST", "/webhook/set/shop", {"url": BAD, "enabled": False}, status=201)


@pytest.mark.parametrize(
    "headers",
    [{"X-A": "a\r\nInjected: 1"}, {"jwt_key": ""}],
)
async def test_header_values_that_would_break_delivery_are_refused(
    harness: Harness, headers: dict[str, str]
) -> None:
    body = {"webhook": {"enabled": True, "url": "https://crm.example/h", "headers": headers}}
    await harness.refused("POST", "/webhook/set/shop", body, status=422, error="invalid")


async def test_put_instance_stores_the_token_masked_and_keeps_it(harness: Harness) -> None:
    answer = await harness.ok("PUT", "/instances/shop", {"token": "s3cret", "sqs": {}}, status=201)
    assert answer["token"] == "********"
    assert (await harness.store.get("shop")).token == "s3cret"  # type: ignore[union-attr]
    # Left out, or the mask read back: kept. Sent anew: replaced.
    await harness.ok("PUT", "/instances/shop", {"sqs": {}})
    await harness.ok("PUT", "/instances/shop", {"token": "********"})
    assert (await harness.store.get("shop")).token == "s3cret"  # type: ignore[union-attr]
    await harness.ok("PUT", "/instances/shop", {"token": "rotated"})
    assert (await harness.store.get("shop")).token == "rotated"  # type: ignore[union-attr]
    await harness.refused("PUT", "/instances/shop", {"token": 5}, status=422, error="invalid")


async def test_evolutions_paths_ignore_fields_they_do_not_know_and_the_routers_refuse_them(
    harness: Harness,
) -> None:
    body = {"webhook": {"url": BAD, "colour": 1}, "extra": 1}
    answer = await harness.ok("POST", "/webhook/set/shop", body, status=201)
    assert answer["url"] == BAD
    answer = await harness.ok("POST", "/sqs/set/shop", {"sqs": {"enabled": True, "url": BAD}}, 201)
    assert answer["enabled"] is True
    await harness.refused("PUT", "/instances/shop", {"nats": {}}, status=422, error="invalid")


EVOLUTION_CREATION = {
    "instanceName": "shop",
    "token": "shop-token",
    "integration": "WHATSAPP-BAILEYS",
    "qrcode": True,
    "wavoipToken": "",
    "webhook": {"url": BAD, "byEvents": True, "base64": True, "events": ["MESSAGES_UPSERT"]},
    "rabbitmq": {"enabled": True, "events": ["CALL"]},
    "sqs": {"enabled": False, "events": []},
    "nats": {"enabled": True, "events": ["CALL"]},
    "kafka": {"enabled": True, "events": ["CALL"]},
    "chatwootAccountId": "1",
    "someFieldOfANewerRelease": {"x": 1},
}


async def test_instance_create_as_evolution_sends_it(harness: Harness) -> None:
    answer = await harness.ok("POST", "/instance/create", EVOLUTION_CREATION, status=201)
    assert answer["instance"] == "shop"
    assert answer["token"] == MASK
    assert answer["webhook"]["url"] == BAD
    assert answer["webhook"]["events"] == ["MESSAGES_UPSERT"]
    assert answer["rabbitmq"]["events"] == ["CALL"]
    (stored,) = await harness.store.all()
    assert (stored.instance, stored.token) == ("shop", "shop-token")
    again = await harness.ok("POST", "/instance/create", EVOLUTION_CREATION, status=200)
    assert again["webhook"]["url"] == BAD
    await harness.refused(
        "POST", "/instance/create", {"webhook": {"url": BAD}}, status=422, error="invalid"
    )


async def test_an_instance_token_opens_its_own_instance_and_no_other(harness: Harness) -> None:
    await harness.ok("POST", "/instance/create", EVOLUTION_CREATION, status=201)
    other = {**EVOLUTION_CREATION, "instanceName": "other", "token": "other-token"}
    await harness.ok("POST", "/instance/create", other, status=201)
    own = {"apikey": "shop-token"}
    found = await harness.client.get("/webhook/find/shop", headers=own)
    assert found.status == 200
    assert (await found.json())["url"] == BAD
    changed = await harness.client.post(
        "/webhook/set/shop", json={"webhook": {"url": "https://b.example"}}, headers=own
    )
    assert changed.status == 201
    recreated = await harness.client.post("/instance/create", json=EVOLUTION_CREATION, headers=own)
    assert recreated.status == 200
    for method, path, body in [
        ("GET", "/webhook/find/other", None),
        ("POST", "/webhook/set/other", {"webhook": {"url": BAD}}),
        ("POST", "/instance/create", {**other, "token": "shop-token"}),
        ("POST", "/instance/create", {"instanceName": "new", "token": "shop-token"}),
        ("DELETE", "/instance/delete/other", None),
    ]:
        await harness.refused(method, path, body, status=401, error="unauthorized", headers=own)
    deleted = await harness.client.delete("/instance/delete/shop", headers=own)
    assert deleted.status == 200
    assert await deleted.json() == {
        "status": "SUCCESS",
        "error": False,
        "response": {"message": "Instance deleted"},
    }
    assert [c.instance for c in await harness.store.all()] == ["other"]
    await harness.refused("DELETE", "/instance/delete/shop", status=404, error="not_found")


async def test_a_webhook_may_be_sent_in_another_platforms_shape(harness: Harness) -> None:
    body = {"webhook": {**HOOK, "format": "ryze"}}
    answer = await harness.ok("POST", "/webhook/set/shop", body, status=201)
    assert answer["format"] == "ryze"
    assert (await harness.ok("GET", "/webhook/find/shop"))["format"] == "ryze"
    await harness.refused(
        "POST",
        "/webhook/set/shop",
        {"webhook": {**HOOK, "format": "json"}},
        status=422,
        error="invalid",
    )
