"""CodeChat's event configuration: webhooks whose events are a set of camelCase switches.

``PATCH /api/v2/instance/{instance}/webhook/{webhookId}/events`` turns events on (``true``) and
off (``false``); events it does not name keep their state. ``webhookId`` is the webhook's label,
so the webhooks other dialects keep are addressable here too. ``POST`` on
``/api/v2/instance/{instance}/webhook`` creates one and ``GET`` lists them.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from router.http.appkeys import CONFIG
from router.http.dialects.common import (
    DEFAULT_LABEL,
    apply,
    check_fields,
    event_wire,
    get_bool,
    get_format,
    get_str,
    guarded,
    instance_of,
    invalid,
    merged_webhook,
    not_found,
    one_of,
    read_object,
    shown,
    shown_url,
    type_name,
)
from router.http.requests import Refused, json_response
from schemas.catalog import CATALOG
from schemas.instance_config import InstanceConfig, WebhookConfig

CREATE_FIELDS = frozenset({"url", "enabled", "events", "name", "label", "format"})
ALL_EVENTS = tuple(event.wire for event in CATALOG)


def switches(value: Any, where: str) -> dict[str, bool]:
    """Wire name -> on/off for an object of event switches in any accepted spelling."""
    if not isinstance(value, dict):
        raise invalid(
            f"{where} must be an object of event names to true or false, e.g. "
            f'{{"messagesUpsert": true}}, not {type_name(value)}'
        )
    found: dict[str, bool] = {}
    named: dict[str, str] = {}
    for name, flag in value.items():
        if not isinstance(flag, bool):
            raise invalid(f"{where}.{name} must be true or false, not {shown(flag)}")
        wire = event_wire(name, where)
        # Two spellings of one event (stateInstance, statusInstance) must not contradict.
        if wire in found and found[wire] != flag:
            raise invalid(
                f"{where}.{named[wire]} and {where}.{name} are the same event; send one of them"
            )
        found[wire], named[wire] = flag, name
    return found


def selection(hook: WebhookConfig) -> frozenset[str]:
    """The events the webhook's switches show as on: an empty list means every event while
    enabled and none while disabled (the state a client reaches by switching all off)."""
    if hook.events:
        return frozenset(hook.events)
    return frozenset(ALL_EVENTS) if hook.enabled else frozenset()


def switched(hook: WebhookConfig, changes: dict[str, bool]) -> dict[str, Any]:
    """The fields that change when ``changes`` are applied to ``hook``'s switches."""
    chosen = (selection(hook) | {w for w, on in changes.items() if on}) - {
        w for w, on in changes.items() if not on
    }
    if not chosen:
        # An empty events list means "all events" in the model, so switching every event
        # off has to disable the webhook instead.
        return {"enabled": False, "events": []}
    # Leaving the all-off state turns the webhook back on; a webhook the client disabled
    # on purpose (with events still chosen) stays disabled.
    enabled = hook.enabled or not hook.events
    return {"events": events_list(chosen, enabled), "enabled": enabled}


def events_list(chosen: frozenset[str] | set[str], enabled: bool) -> list[str]:
    """Catalog order. Every event on is stored as the empty list, which also takes in events
    the catalog gains later, as "all on" means; a disabled webhook keeps the explicit list,
    since its empty list reads as "all off"."""
    if enabled and chosen >= set(ALL_EVENTS):
        return []
    return [wire for wire in ALL_EVENTS if wire in chosen]


def webhook_answer(hook: WebhookConfig) -> dict[str, Any]:
    chosen = selection(hook)
    return {
        "id": hook.label,
        "url": shown_url(hook.url),
        "enabled": hook.enabled,
        "events": {event.camel: event.wire in chosen for event in CATALOG},
        "createdAt": hook.created_at,
        "updatedAt": hook.updated_at,
        **({} if hook.format == "evolution" else {"format": hook.format}),
    }


def stored(config: InstanceConfig, label: str) -> WebhookConfig:
    hook = config.webhook(label)
    if hook is None:
        labels = ", ".join(sorted(w.label for w in config.webhooks)) or "none yet"
        raise not_found(
            f"instance {config.instance!r} has no webhook {label!r} (its webhooks: {labels}); "
            f"create it with POST /api/v2/instance/{config.instance}/webhook"
        )
    return hook


@guarded
async def patch_events(request: web.Request) -> web.Response:
    instance = instance_of(request)
    label = request.match_info["webhookId"]
    body = await read_object(request)
    if set(body) == {"events"}:
        body = body["events"]  # the switches may come wrapped, as in CodeChat's create body
    changes = switches(body, "events")

    def change(current: InstanceConfig) -> InstanceConfig:
        hook = stored(current, label)
        return current.with_webhook(merged_webhook(hook, switched(hook, changes), "", label))

    config = await apply(request, instance, change)
    return json_response(webhook_answer(stored(config, label)), 200)


def free_label(config: InstanceConfig) -> str:
    """``default`` for an instance's first webhook, then ``webhook-2``, ``webhook-3``..."""
    candidates = itertools.chain([DEFAULT_LABEL], (f"webhook-{n}" for n in itertools.count(2)))
    return next(label for label in candidates if config.webhook(label) is None)


@guarded
async def create_webhook(request: web.Request) -> web.Response:
    instance = instance_of(request)
    body = await read_object(request)
    check_fields(body, CREATE_FIELDS, "")
    label = one_of(body, ("name", "label"), "", get_str)
    patch: dict[str, Any] = {}
    if (url := get_str(body, "url", "")) is not None:
        patch["url"] = url
    enabled = get_bool(body, "enabled", "")
    if body.get("events") is not None:
        chosen = {wire for wire, on in switches(body["events"], "events").items() if on}
        if not chosen:
            enabled = False  # none chosen: see switched() for why this disables
        patch["events"] = events_list(chosen, enabled is not False)
    if enabled is not None:
        patch["enabled"] = enabled
    if (payload_format := get_format(body, "format", "")) is not None:
        patch["format"] = payload_format
    created: list[str] = []

    def change(current: InstanceConfig) -> InstanceConfig:
        chosen_label = label or free_label(current)
        if current.webhook(chosen_label) is not None:
            raise Refused(
                409,
                "conflict",
                f"webhook {chosen_label!r} already exists; change its events with PATCH "
                f"/api/v2/instance/{instance}/webhook/{chosen_label}/events or pick another name",
            )
        created.append(chosen_label)
        return current.with_webhook(merged_webhook(None, patch, "", chosen_label))

    config = await apply(request, instance, change)
    return json_response(webhook_answer(stored(config, created[-1])), 201)


@guarded
async def list_webhooks(request: web.Request) -> web.Response:
    config = await request.app[CONFIG].get(instance_of(request))
    hooks = sorted(config.webhooks, key=lambda h: (h.created_at, h.label))
    return json_response([webhook_answer(hook) for hook in hooks], 200)
