"""RyzeAPI's event configuration: several labelled webhooks per instance, and the WebSocket
switch.

``POST /api/events/webhook/{instance}`` creates or updates the webhook with the body's ``label``
(``default`` when none is given); fields it leaves out keep their stored values.
``authorization`` is kept as the webhook's ``Authorization`` header and ``mediaBase64`` as its
base64 choice. ``GET /api/events/getWebhook/{instance}`` lists them, or one with ``?label=``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.http.appkeys import CONFIG
from router.http.dialects.common import (
    DEFAULT_LABEL,
    MASK,
    apply,
    build,
    check_fields,
    get_bool,
    get_events,
    get_format,
    get_str,
    guarded,
    instance_of,
    invalid,
    listed_keys,
    merged_webhook,
    not_found,
    read_object,
    shown_url,
)
from router.http.requests import json_response, query_value
from schemas.instance_config import ChannelConfig, InstanceConfig, WebhookConfig
from schemas.shapes import types_of, wires_of

WEBHOOK_FIELDS = frozenset(
    {"url", "enabled", "events", "authorization", "mediaBase64", "label", "format"}
)
RYZE_TYPES = types_of("ryze")
WEBSOCKET_FIELDS = frozenset({"enabled", "events"})


def with_authorization(headers: dict[str, str], value: str) -> dict[str, str]:
    """``headers`` with its Authorization header replaced whatever its capitalisation (another
    dialect may have stored it); an empty value removes it."""
    kept = {name: v for name, v in headers.items() if name.lower() != "authorization"}
    return kept | {"Authorization": value} if value else kept


def authorization_of(hook: WebhookConfig) -> str | None:
    return next((v for n, v in hook.headers.items() if n.lower() == "authorization"), None)


def ryze_events(body: dict[str, Any]) -> list[str] | None:
    """``events[]`` in RyzeAPI's six types or any catalog spelling, as wire names."""
    value = body.get("events")
    if not isinstance(value, list):
        return get_events(body, "events", "")
    wires: list[str] = []
    others: list[str] = []
    for name in value:
        if isinstance(name, str) and name in RYZE_TYPES:
            wires += wires_of("ryze", name)
        else:
            others.append(name)
    wires += get_events({"events": others}, "events", "") or []
    return list(dict.fromkeys(wires))


def listed_events(hook: WebhookConfig) -> list[str]:
    """A RyzeAPI-shaped webhook whose events are whole RyzeAPI types lists those types; any
    other lists catalog keys, which say exactly what is sent."""
    if hook.format == "ryze":
        if not hook.events:
            return list(RYZE_TYPES) if hook.enabled else []
        chosen = set(hook.events)
        kinds = [kind for kind in RYZE_TYPES if set(wires_of("ryze", kind)) <= chosen]
        if {wire for kind in kinds for wire in wires_of("ryze", kind)} == chosen:
            return kinds
    return listed_keys(hook.events, hook.enabled)


def webhook_answer(config: InstanceConfig, hook: WebhookConfig) -> dict[str, Any]:
    return {
        "label": hook.label,
        "url": shown_url(hook.url),
        "enabled": hook.enabled,
        "events": listed_events(hook),
        "format": hook.format,
        "authorization": MASK if authorization_of(hook) else None,
        "mediaBase64": hook.base64,
        "createdAt": hook.created_at,
        "updatedAt": hook.updated_at,
        "instance": config.instance,
    }


def websocket_answer(config: InstanceConfig) -> dict[str, Any]:
    block = config.websocket
    return {
        "enabled": block.enabled,
        "events": listed_keys(block.events, block.enabled),
        "instance": config.instance,
    }


@guarded
async def post_webhook(request: web.Request) -> web.Response:
    instance = instance_of(request)
    body = await read_object(request)
    check_fields(body, WEBHOOK_FIELDS, "")
    label = get_str(body, "label", "") or DEFAULT_LABEL
    values: dict[str, Any] = {
        "url": get_str(body, "url", ""),
        "enabled": get_bool(body, "enabled", ""),
        "events": ryze_events(body),
        "base64": get_bool(body, "mediaBase64", ""),
        "format": get_format(body, "format", ""),
    }
    patch = {name: value for name, value in values.items() if value is not None}
    authorization = get_str(body, "authorization", "")

    def change(current: InstanceConfig) -> InstanceConfig:
        previous = current.webhook(label)
        hook_patch = dict(patch)
        if previous is None:
            # Made through RyzeAPI's calls: its consumers read RyzeAPI's shape.
            hook_patch.setdefault("format", "ryze")
        if authorization is not None and authorization != MASK:
            headers = previous.headers if previous is not None else {}
            hook_patch["headers"] = with_authorization(headers, authorization)
        return current.with_webhook(merged_webhook(previous, hook_patch, "", label))

    # Only the answer's status depends on this look-up; the change itself runs under the
    # service's lock, so a concurrent create cannot be lost.
    existed = (await request.app[CONFIG].get(instance)).webhook(label) is not None
    config = await apply(request, instance, change)
    hook = config.webhook(label)
    assert hook is not None  # the change always stores it
    return json_response(webhook_answer(config, hook), 200 if existed else 201)


@guarded
async def get_webhook(request: web.Request) -> web.Response:
    instance = instance_of(request)
    config = await request.app[CONFIG].get(instance)
    label = query_value(request, "label")
    if label is None:
        hooks = sorted(config.webhooks, key=lambda h: (h.created_at, h.label))
        return json_response([webhook_answer(config, hook) for hook in hooks], 200)
    hook = config.webhook(label)
    if hook is None:
        labels = ", ".join(sorted(w.label for w in config.webhooks)) or "none yet"
        raise not_found(
            f"instance {instance!r} has no webhook labelled {label!r} (its labels: {labels})"
        )
    return json_response(webhook_answer(config, hook), 200)


@guarded
async def post_websocket(request: web.Request) -> web.Response:
    instance = instance_of(request)
    body = await read_object(request)
    check_fields(body, WEBSOCKET_FIELDS, "")
    enabled = get_bool(body, "enabled", "")
    if enabled is None:
        raise invalid("enabled is required: true sends events to WebSocket clients, false stops")
    patch: dict[str, Any] = {"enabled": enabled}
    events = get_events(body, "events", "")
    if events is not None:
        patch["events"] = events

    def change(current: InstanceConfig) -> InstanceConfig:
        block = build(ChannelConfig, {**current.websocket.model_dump(), **patch}, "")
        return current.with_channel("websocket", block)

    config = await apply(request, instance, change)
    return json_response(websocket_answer(config), 200)


@guarded
async def get_websocket(request: web.Request) -> web.Response:
    config = await request.app[CONFIG].get(instance_of(request))
    return json_response(websocket_answer(config), 200)
