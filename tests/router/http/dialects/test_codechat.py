"""CodeChat's calls: events as camelCase switches on a webhook addressed by its label, and
every refusal storing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.catalog import CATALOG
from tests.router.http.dialects.conftest import Harness

URL = "https://crm.example/hook"
BASE = "/api/v2/instance/shop/webhook"


def switches(*on: str) -> dict[str, bool]:
    return {event.camel: event.camel in on for event in CATALOG}


async def create(harness: Harness, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = await harness.ok("POST", BASE, body, status=201)
    return answer


async def test_create_then_patch_events(harness: Harness) -> None:
    created = await create(
        harness, {"url": URL, "name": "crm", "events": {"messagesUpsert": True, "call": False}}
    )
    assert {k: v for k, v in created.items() if k not in ("createdAt", "updatedAt")} == {
        "id": "crm",
        "url": URL,
        "enabled": True,
        "events": switches("messagesUpsert"),
    }
    assert created["createdAt"].endswith("Z")

    patched = await harness.ok(
        "PATCH",
        f"{BASE}/crm/events",
        {"qrcodeUpdate": True, "stateInstance": True, "newJwt": True, "messagesUpsert": False},
    )
    assert patched["events"] == switches("qrcodeUpdated", "statusInstance", "newJwt")
    assert patched["createdAt"] == created["createdAt"]
    assert patched["updatedAt"] >= created["updatedAt"]
    stored = await harness.store.get("shop")
    assert stored is not None
    hook = stored.webhook("crm")
    assert hook is not None
    assert hook.events == ["qrcode.updated", "status.instance", "new.jwt"]
    assert harness.announced == ["shop", "shop"]


async def test_keys_not_sent_are_left_as_they_are(harness: Harness) -> None:
    await create(harness, {"url": URL, "events": {"messagesUpsert": True, "call": True}})
    patched = await harness.ok("PATCH", f"{BASE}/default/events", {"call": False})
    assert patched["events"] == switches("messagesUpsert")
    wrapped = await harness.ok("PATCH", f"{BASE}/default/events", {"events": {"chatsSet": True}})
    assert wrapped["events"] == switches("messagesUpsert", "chatsSet")


async def test_a_webhook_with_all_events_shows_every_switch_on(harness: Harness) -> None:
    created = await create(harness, {"url": URL})
    assert created["id"] == "default"
    assert created["events"] == {event.camel: True for event in CATALOG}
    patched = await harness.ok("PATCH", f"{BASE}/default/events", {"messagesUpsert": False})
    assert patched["events"] == {e.camel: e.camel != "messagesUpsert" for e in CATALOG}


async def test_switching_every_event_off_disables_the_webhook(harness: Harness) -> None:
    await create(harness, {"url": URL, "events": {"call": True}})
    off = await harness.ok("PATCH", f"{BASE}/default/events", {"call": False})
    assert off["enabled"] is False
    assert off["events"] == switches()
    stored = await harness.store.get("shop")
    assert stored is not None
    assert stored.webhooks[0].wanted() == frozenset()
    on = await harness.ok("PATCH", f"{BASE}/default/events", {"callUpsert": True})
    assert on["enabled"] is True
    assert on["events"] == switches("call")


async def test_a_webhook_disabled_on_purpose_stays_disabled(harness: Harness) -> None:
    await create(harness, {"url": URL, "enabled": False, "events": {"call": True}})
    patched = await harness.ok("PATCH", f"{BASE}/default/events", {"messagesUpsert": True})
    assert patched["enabled"] is False
    assert patched["events"] == switches("call", "messagesUpsert")


async def test_every_switch_on_of_a_disabled_webhook_stays_visible(harness: Harness) -> None:
    every = {event.camel: True for event in CATALOG}
    created = await create(harness, {"url": URL, "enabled": False, "events": every})
    assert created["events"] == every
    await create(harness, {"url": URL, "name": "b", "enabled": False, "events": {"call": True}})
    patched = await harness.ok("PATCH", f"{BASE}/b/events", every)
    assert (patched["enabled"], patched["events"]) == (False, every)


async def test_labelled_webhooks_of_other_dialects_are_addressable(harness: Harness) -> None:
    await harness.ok(
        "POST", "/api/events/webhook/shop", {"label": "ryze", "url": URL, "events": ["CALL"]}, 201
    )
    patched = await harness.ok("PATCH", f"{BASE}/ryze/events", {"messagesUpsert": True})
    assert patched["id"] == "ryze"
    assert patched["events"] == switches("call", "messagesUpsert")


async def test_list_and_generated_names(harness: Harness) -> None:
    first = await create(harness, {"url": URL})
    second = await create(harness, {"url": URL, "enabled": False})
    assert (first["id"], second["id"]) == ("default", "webhook-2")
    assert await harness.ok("GET", BASE) == [first, second]
    assert await harness.ok("GET", "/api/v2/instance/nobody/webhook") == []


async def test_an_existing_name_is_a_conflict(harness: Harness) -> None:
    await create(harness, {"url": URL, "label": "crm"})
    answer = await harness.refused(
        "POST", BASE, {"url": URL, "name": "crm"}, status=409, error="conflict"
    )
    assert "PATCH" in answer["message"]


async def test_unknown_webhook_ids_are_not_found(harness: Harness) -> None:
    await create(harness, {"url": URL, "name": "crm"})
    answer = await harness.refused(
        "PATCH", f"{BASE}/nope/events", {"call": True}, status=404, error="not_found"
    )
    assert "'nope'" in answer["message"]
    assert "crm" in answer["message"]
    await harness.refused(
        "PATCH",
        "/api/v2/instance/other/webhook/crm/events",
        {"call": True},
        status=404,
        error="not_found",
    )


async def test_a_fourth_enabled_webhook_is_refused(harness: Harness) -> None:
    for _ in range(3):
        await create(harness, {"url": URL})
    await harness.refused("POST", BASE, {"url": URL}, status=422, error="invalid")
    # A disabled fourth may be made; switching an event on does not enable it.
    fourth = await create(harness, {"url": URL, "events": {"call": False}})
    assert fourth["enabled"] is False
    answer = await harness.refused(
        "PATCH", f"{BASE}/{fourth['id']}/events", {"call": True}, status=422, error="invalid"
    )
    assert "at most 3" in answer["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", BASE), ("GET", BASE), ("PATCH", f"{BASE}/default/events")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer no"}], ids=["none", "wrong"])
async def test_every_route_needs_the_key(
    harness: Harness, method: str, path: str, headers: dict[str, str]
) -> None:
    await harness.refused(
        method, path, {"url": URL}, headers=headers, status=401, error="unauthorized"
    )


@pytest.mark.parametrize("raw", [b"{", b"[]", b""])
@pytest.mark.parametrize("path", [BASE, f"{BASE}/default/events"])
async def test_malformed_bodies(harness: Harness, path: str, raw: bytes) -> None:
    await create(harness, {"url": URL})
    method = "POST" if path == BASE else "PATCH"
    await harness.refused(method, path, raw=raw, status=400, error="malformed_json")


@pytest.mark.parametrize(
    ("method", "path", "body", "fragments"),
    [
        ("PATCH", f"{BASE}/default/events", {"call": "yes"}, ["events.call", "true or false"]),
        (
            "PATCH",
            f"{BASE}/default/events",
            {"stateInstance": True, "statusInstance": False},
            ["stateInstance", "statusInstance", "same event"],
        ),
        ("PATCH", f"{BASE}/default/events", {"events": ["call"]}, ["events must be an object"]),
        ("POST", BASE, {"url": "ftp://files.example"}, ["url", "http or https"]),
        ("POST", BASE, {"events": {"call": True}}, ["url is required"]),
        ("POST", BASE, {"url": URL, "headers": {}}, ["unknown field", "headers"]),
        ("POST", BASE, {"url": URL, "name": "a", "label": "b"}, ["name", "label", "disagree"]),
        ("POST", BASE, {"url": URL, "name": "a/b"}, ["label", "'a/b'"]),
    ],
)
async def test_invalid_bodies_are_refused_with_what_to_fix(
    harness: Harness, method: str, path: str, body: dict[str, Any], fragments: list[str]
) -> None:
    await create(harness, {"url": URL})
    answer = await harness.refused(method, path, body, status=422, error="invalid")
    for fragment in fragments:
        assert fragment in answer["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", f"{BASE}/default/events", {"mesagesUpsert": True}),
        ("POST", BASE, {"url": URL, "events": {"mesagesUpsert": True}}),
    ],
)
async def test_unknown_events_are_refused_with_suggestions(
    harness: Harness, method: str, path: str, body: dict[str, Any]
) -> None:
    await create(harness, {"url": URL})
    answer = await harness.refused(method, path, body, status=422, error="unknown_event")
    assert "mesagesUpsert" in answer["message"]
    assert answer["suggestions"][0] == "messages.upsert"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v2/instance/my%0Ainst/webhook"),
        ("GET", "/api/v2/instance/my%0Ainst/webhook"),
        ("PATCH", "/api/v2/instance/my%0Ainst/webhook/default/events"),
    ],
)
async def test_bad_instance_names_are_refused(harness: Harness, method: str, path: str) -> None:
    await harness.refused(method, path, {"url": URL}, status=422, error="bad_instance")


async def test_a_webhook_may_be_made_in_another_platforms_shape(harness: Harness) -> None:
    body = {"url": "https://crm.example/hook", "format": "vzaps"}
    answer = await create(harness, body)
    assert answer["format"] == "vzaps"
    stored = await harness.store.get("shop")
    assert stored is not None
    assert [hook.format for hook in stored.webhooks] == ["vzaps"]
