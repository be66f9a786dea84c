"""RyzeAPI's calls: labelled webhooks created or updated by label, the WebSocket switch, and
every refusal storing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.catalog import CATALOG
from tests.router.http.dialects.conftest import Harness

ALL_KEYS = [event.key for event in CATALOG]
URL = "https://crm.example/hook"


def without_times(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["createdAt"].endswith("Z")
    assert answer["updatedAt"].endswith("Z")
    return {k: v for k, v in answer.items() if k not in ("createdAt", "updatedAt")}


async def test_create_then_update_by_label(harness: Harness) -> None:
    body = {
        "label": "crm",
        "url": URL,
        "enabled": True,
        "events": ["messages.upsert", "SEND_MESSAGE"],
        "authorization": "Bearer abc",
        "mediaBase64": True,
    }
    created = await harness.ok("POST", "/api/events/webhook/shop", body, status=201)
    assert without_times(created) == {
        "label": "crm",
        "url": URL,
        "enabled": True,
        "events": ["MESSAGES_UPSERT", "SEND_MESSAGE"],  # not all of message.exchange
        "format": "ryze",  # made through RyzeAPI's calls: RyzeAPI's shape
        "authorization": "********",  # credentials never shown
        "mediaBase64": True,
        "instance": "shop",
    }
    stored = await harness.store.get("shop")
    assert stored is not None
    hook = stored.webhook("crm")
    assert hook is not None
    assert hook.headers == {"Authorization": "Bearer abc"}
    assert (hook.base64, hook.events) == (True, ["messages.upsert", "send.message"])

    updated = await harness.ok(
        "POST", "/api/events/webhook/shop", {"label": "crm", "mediaBase64": False}, status=200
    )
    assert updated["mediaBase64"] is False
    assert updated["url"] == URL
    assert updated["authorization"] == "********"
    kept = await harness.store.get("shop")
    assert kept is not None
    assert kept.webhooks[0].headers == {"Authorization": "Bearer abc"}
    assert updated["createdAt"] == created["createdAt"]
    assert harness.announced == ["shop", "shop"]


async def test_default_label_and_all_events(harness: Harness) -> None:
    answer = await harness.ok("POST", "/api/events/webhook/shop", {"url": URL}, status=201)
    assert answer["label"] == "default"
    assert answer["events"] == [
        "message.exchange",
        "message.status",
        "call.update",
        "group.flow",
        "instance.state",
        "label.update",
    ]
    assert answer["authorization"] is None
    assert answer["mediaBase64"] is False
    # The default label is the webhook Evolution's calls see.
    assert (await harness.ok("GET", "/webhook/find/shop"))["url"] == URL


async def test_empty_authorization_removes_the_header(harness: Harness) -> None:
    await harness.ok(
        "POST", "/api/events/webhook/shop", {"url": URL, "authorization": "t"}, status=201
    )
    answer = await harness.ok("POST", "/api/events/webhook/shop", {"authorization": ""}, status=200)
    assert answer["authorization"] is None
    stored = await harness.store.get("shop")
    assert stored is not None
    assert stored.webhooks[0].headers == {}


async def test_get_all_or_one_by_label(harness: Harness) -> None:
    first = await harness.ok(
        "POST", "/api/events/webhook/shop", {"label": "a", "url": URL}, status=201
    )
    second = await harness.ok(
        "POST", "/api/events/webhook/shop", {"label": "b", "url": URL, "enabled": False}, 201
    )
    assert await harness.ok("GET", "/api/events/getWebhook/shop") == [first, second]
    assert await harness.ok("GET", "/api/events/getWebhook/shop?label=b") == second
    assert await harness.ok("GET", "/api/events/getWebhook/nobody") == []
    answer = await harness.refused(
        "GET", "/api/events/getWebhook/shop?label=zzz", status=404, error="not_found"
    )
    assert "'zzz'" in answer["message"]
    assert "a, b" in answer["message"]


async def test_a_fourth_enabled_webhook_is_refused(harness: Harness) -> None:
    for label in ("a", "b", "c"):
        await harness.ok("POST", "/api/events/webhook/shop", {"label": label, "url": URL}, 201)
    answer = await harness.refused(
        "POST",
        "/api/events/webhook/shop",
        {"label": "d", "url": URL},
        status=422,
        error="invalid",
    )
    assert "4 enabled webhooks" in answer["message"]
    assert "at most 3" in answer["message"]
    # Disabled, a fourth is fine; enabling it is not.
    await harness.ok(
        "POST", "/api/events/webhook/shop", {"label": "d", "url": URL, "enabled": False}, 201
    )
    await harness.refused(
        "POST",
        "/api/events/webhook/shop",
        {"label": "d", "enabled": True},
        status=422,
        error="invalid",
    )


async def test_websocket_switch(harness: Harness) -> None:
    assert await harness.ok("GET", "/api/events/getWebsocket/shop") == {
        "enabled": False,
        "events": [],
        "instance": "shop",
    }
    on = await harness.ok(
        "POST", "/api/events/websocket/shop", {"enabled": True, "events": ["CALL", "new.jwt"]}
    )
    assert on == {"enabled": True, "events": ["CALL", "NEW_JWT"], "instance": "shop"}
    off = await harness.ok("POST", "/api/events/websocket/shop", {"enabled": False})
    assert off == {"enabled": False, "events": ["CALL", "NEW_JWT"], "instance": "shop"}
    assert await harness.ok("GET", "/api/events/getWebsocket/shop") == off
    stored = await harness.store.get("shop")
    assert stored is not None
    assert stored.websocket.wanted() == frozenset()
    assert harness.announced == ["shop", "shop"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/events/webhook/shop"),
        ("GET", "/api/events/getWebhook/shop"),
        ("POST", "/api/events/websocket/shop"),
        ("GET", "/api/events/getWebsocket/shop"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"apikey": "wrong"}], ids=["missing", "wrong"])
async def test_every_route_needs_the_key(
    harness: Harness, method: str, path: str, headers: dict[str, str]
) -> None:
    await harness.refused(
        method, path, {"enabled": True}, headers=headers, status=401, error="unauthorized"
    )


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/events/webhook/shop", b"{nope"),
        ("/api/events/webhook/shop", b"[]"),
        ("/api/events/websocket/shop", b'"enabled"'),
    ],
)
async def test_malformed_bodies(harness: Harness, path: str, raw: bytes) -> None:
    await harness.refused("POST", path, raw=raw, status=400, error="malformed_json")


@pytest.mark.parametrize(
    ("path", "body", "fragments"),
    [
        ("/api/events/webhook/shop", {"url": "ftp://files.example"}, ["url", "http or https"]),
        ("/api/events/webhook/shop", {"label": "x"}, ["url is required"]),
        ("/api/events/webhook/shop", {"url": URL, "label": "a b"}, ["label", "'a b'"]),
        ("/api/events/webhook/shop", {"url": URL, "secret": "s"}, ["unknown field", "secret"]),
        ("/api/events/webhook/shop", {"url": URL, "mediaBase64": 1}, ["mediaBase64"]),
        ("/api/events/webhook/shop", {"url": URL, "authorization": 5}, ["authorization"]),
        ("/api/events/websocket/shop", {"events": ["CALL"]}, ["enabled is required"]),
        ("/api/events/websocket/shop", {"enabled": True, "url": URL}, ["unknown field", "url"]),
    ],
)
async def test_invalid_bodies_are_refused_with_what_to_fix(
    harness: Harness, path: str, body: dict[str, Any], fragments: list[str]
) -> None:
    answer = await harness.refused("POST", path, body, status=422, error="invalid")
    for fragment in fragments:
        assert fragment in answer["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/events/webhook/shop", {"url": URL, "events": ["messages.upsrt"]}),
        ("/api/events/websocket/shop", {"enabled": True, "events": ["messages.upsrt"]}),
    ],
)
async def test_unknown_events_are_refused_with_suggestions(
    harness: Harness, path: str, body: dict[str, Any]
) -> None:
    answer = await harness.refused("POST", path, body, status=422, error="unknown_event")
    assert "messages.upsrt" in answer["message"]
    assert "messages.upsert" in answer["suggestions"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/events/webhook/my%0Ainst"),
        ("GET", "/api/events/getWebhook/my%0Ainst"),
        ("POST", "/api/events/websocket/my%0Ainst"),
        ("GET", "/api/events/getWebsocket/my%0Ainst"),
    ],
)
async def test_bad_instance_names_are_refused(harness: Harness, method: str, path: str) -> None:
    await harness.refused(
        method, path, {"url": URL, "enabled": True}, status=422, error="bad_instance"
    )


async def test_ryze_types_in_events_and_the_shape_to_send(harness: Harness) -> None:
    body = {"url": URL, "events": ["message.exchange", "CALL"]}
    answer = await harness.ok("POST", "/api/events/webhook/shop", body, status=201)
    assert answer["events"] == ["message.exchange", "call.update"]
    assert answer["format"] == "ryze"
    stored = await harness.store.get("shop")
    assert stored is not None
    hook = stored.webhook("default")
    assert hook is not None
    assert hook.events == [
        "messages.upsert",
        "send.message",
        "messages.edited",
        "messages.delete",
        "call",
    ]
    evolution = {"url": URL, "format": "evolution", "label": "raw"}
    assert (await harness.ok("POST", "/api/events/webhook/shop", evolution, status=201))[
        "format"
    ] == "evolution"
    await harness.refused(
        "POST",
        "/api/events/webhook/shop",
        {"url": URL, "format": "wuzapi", "label": "x"},
        status=422,
        error="invalid",
    )
