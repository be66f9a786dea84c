"""Evolution API's event configuration calls, over the router's one per-instance document.

``POST /{webhook|rabbitmq|sqs|websocket|pusher}/set/{instance}`` and ``GET .../find/{instance}``
take and answer Evolution v2's bodies (v1's field names are accepted too);
``PUT /instances/{instance}`` takes the instance-creation body with every block at once and
``DELETE /instances/{instance}`` forgets the instance's configuration; ``POST /instance/create``
and ``DELETE /instance/delete/{instance}`` are the same as Evolution spells them. On Evolution's
own paths fields the router does not know are ignored (and logged), as Evolution ignores them;
the router's own paths refuse them. An instance's ``token`` opens that instance's calls.

Evolution has a single webhook per instance; here it is the webhook labelled ``default``, so
labelled webhooks added through the other dialects are left alone by ``/webhook/set``.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from router.http.appkeys import CONFIG
from router.http.dialects.common import (
    DEFAULT_LABEL,
    MASK,
    apply,
    authorise,
    build,
    check_fields,
    get_bool,
    get_events,
    get_format,
    get_headers,
    get_str,
    guarded,
    instance_of,
    invalid,
    listed_keys,
    masked_headers,
    merged_webhook,
    not_found,
    one_of,
    read_object,
    restored,
    shown,
    shown_url,
    type_name,
    unwrap,
)
from router.http.requests import checked_instance, json_response
from router.logging import get_logger
from schemas.instance_config import ChannelConfig, InstanceConfig, PusherConfig

log = get_logger("router.dialects.evolution")

CHANNELS = ("rabbitmq", "sqs", "websocket", "pusher")
BLOCKS = ("webhook", *CHANNELS)

BY_EVENTS = ("byEvents", "webhookByEvents", "webhook_by_events")
BASE64 = ("base64", "webhookBase64", "webhook_base64")
BACKFILL_SINCE = ("backfillSince", "backfill_since")
WEBHOOK_FIELDS = frozenset(
    {"enabled", "url", "headers", "events", "format", *BY_EVENTS, *BASE64, *BACKFILL_SINCE}
)
CHANNEL_FIELDS = frozenset({"enabled", "events"})
# Evolution's spelling of the Pusher credentials, and the model's.
PUSHER_STRINGS = {"appId": "app_id", "key": "key", "secret": "secret", "cluster": "cluster"}
PUSHER_FIELDS = CHANNEL_FIELDS | set(PUSHER_STRINGS) | {"useTLS"}

# Evolution 1.x and 2.0 sent the creation blocks as flat fields; each maps onto a nested one.
FLAT_CREATION_FIELDS: dict[str, tuple[str, str]] = {
    "webhookUrl": ("webhook", "url"),
    "webhookHeaders": ("webhook", "headers"),
    "webhookEvents": ("webhook", "events"),
    "events": ("webhook", "events"),
    "webhookByEvents": ("webhook", "byEvents"),
    "webhook_by_events": ("webhook", "byEvents"),
    "webhookBase64": ("webhook", "base64"),
    "webhook_base64": ("webhook", "base64"),
    **{f"{name}Enabled": (name, "enabled") for name in ("rabbitmq", "sqs", "websocket")},
    **{f"{name}Events": (name, "events") for name in ("rabbitmq", "sqs", "websocket")},
}
# The creation body also sets up the WhatsApp session itself; those fields are accepted so a
# platform can forward its body unchanged, and they are not this router's business.
SESSION_FIELDS = frozenset(
    [
        "instanceId",
        "qrcode",
        "number",
        "integration",
        "businessId",
        "status",
        "rejectCall",
        "msgCall",
        "groupsIgnore",
        "alwaysOnline",
        "readMessages",
        "readStatus",
        "syncFullHistory",
    ]
)
SESSION_PREFIXES = ("chatwoot", "typebot", "proxy")


def webhook_patch(block: dict[str, Any], where: str, *, strict: bool = True) -> dict[str, Any]:
    """The webhook fields the client sent, in the model's names; absent ones stay as stored."""
    check_fields(block, WEBHOOK_FIELDS, where, strict=strict)
    values = {
        "enabled": get_bool(block, "enabled", where),
        "url": get_str(block, "url", where),
        "headers": get_headers(block, "headers", where),
        "events": get_events(block, "events", where),
        "by_events": one_of(block, BY_EVENTS, where, get_bool),
        "base64": one_of(block, BASE64, where, get_bool),
        "format": get_format(block, "format", where),
        "backfill_since": one_of(block, BACKFILL_SINCE, where, get_str),
    }
    return {name: value for name, value in values.items() if value is not None}


def channel_patch(block: dict[str, Any], name: str, *, strict: bool = True) -> dict[str, Any]:
    pusher = name == "pusher"
    check_fields(block, PUSHER_FIELDS if pusher else CHANNEL_FIELDS, name, strict=strict)
    values: dict[str, Any] = {
        "enabled": get_bool(block, "enabled", name),
        "events": get_events(block, "events", name),
    }
    if pusher:
        values |= {
            model: get_str(block, spelled, name) for spelled, model in PUSHER_STRINGS.items()
        }
        values["use_tls"] = get_bool(block, "useTLS", name)
    return {key: value for key, value in values.items() if value is not None}


def channel_of(config: InstanceConfig, name: str) -> ChannelConfig:
    blocks: dict[str, ChannelConfig] = {
        "rabbitmq": config.rabbitmq,
        "sqs": config.sqs,
        "websocket": config.websocket,
        "pusher": config.pusher,
    }
    return blocks[name]


def merged_channel(
    current: InstanceConfig, name: str, patch: dict[str, Any], base: ChannelConfig
) -> ChannelConfig:
    data = {**base.model_dump(), **patch}
    if name != "pusher":
        return build(ChannelConfig, data, name)
    if data.get("secret") == MASK:
        # The masked value read back from a find: the client means "keep the secret".
        data["secret"] = current.pusher.secret
    pusher = build(PusherConfig, data, name)
    credentials = {"appId": pusher.app_id, "key": pusher.key, "secret": pusher.secret}
    missing = [spelled for spelled, value in credentials.items() if not value]
    if pusher.enabled and missing:
        verb = "is" if len(missing) == 1 else "are"
        raise invalid(f"pusher.{', pusher.'.join(missing)} {verb} required when pusher is enabled")
    return pusher


def set_webhook(patch: dict[str, Any], current: InstanceConfig) -> InstanceConfig:
    hook = merged_webhook(current.webhook(DEFAULT_LABEL), patch, "webhook", DEFAULT_LABEL)
    return current.with_webhook(hook)


def set_channel(name: str, patch: dict[str, Any], current: InstanceConfig) -> InstanceConfig:
    block = merged_channel(current, name, patch, channel_of(current, name))
    return current.with_channel(name, block)


def webhook_answer(config: InstanceConfig) -> dict[str, Any]:
    hook = config.webhook(DEFAULT_LABEL)
    if hook is None:
        return {
            "enabled": False,
            "url": "",
            "headers": {},
            "webhookByEvents": False,
            "webhookBase64": False,
            "events": [],
            "createdAt": None,
            "updatedAt": None,
            "instance": config.instance,
        }
    answer = {
        "enabled": hook.enabled,
        "url": shown_url(hook.url),
        "headers": masked_headers(hook.headers),
        "webhookByEvents": hook.by_events,
        "webhookBase64": hook.base64,
        "events": listed_keys(hook.events, hook.enabled),
        "createdAt": hook.created_at,
        "updatedAt": hook.updated_at,
        "instance": config.instance,
    }
    # Evolution's own answer has neither: each is shown only when it is set.
    if hook.backfill_since is not None:
        answer["backfillSince"] = hook.backfill_since
    return answer if hook.format == "evolution" else {**answer, "format": hook.format}


def channel_answer(config: InstanceConfig, name: str) -> dict[str, Any]:
    block = channel_of(config, name)
    answer: dict[str, Any] = {
        "enabled": block.enabled,
        "events": listed_keys(block.events, block.enabled),
        "instance": config.instance,
    }
    if isinstance(block, PusherConfig):
        answer |= {
            "appId": block.app_id,
            "key": block.key,
            "secret": MASK if block.secret else "",
            "cluster": block.cluster,
            "useTLS": block.use_tls,
        }
    return answer


def block_answer(config: InstanceConfig, name: str) -> dict[str, Any]:
    return webhook_answer(config) if name == "webhook" else channel_answer(config, name)


@guarded
async def set_block(request: web.Request) -> web.Response:
    instance = instance_of(request)
    name = request.match_info["block"]
    # Evolution's own path: fields it does not know are ignored, as Evolution ignores them.
    block = unwrap(await read_object(request), name, strict=False)
    if name == "webhook":
        change = functools.partial(set_webhook, webhook_patch(block, name, strict=False))
    else:
        change = functools.partial(set_channel, name, channel_patch(block, name, strict=False))
    config = await apply(request, instance, change)
    return json_response(block_answer(config, name), 201)


@guarded
async def find_block(request: web.Request) -> web.Response:
    config = await request.app[CONFIG].get(instance_of(request))
    name = request.match_info["block"]
    if name == "webhook" and config.webhook(DEFAULT_LABEL) is None:
        return json_response(None, 200)  # Evolution's answer when there is no webhook
    return json_response(block_answer(config, name), 200)


def creation_blocks(
    body: dict[str, Any], instance: str, *, strict: bool = True
) -> dict[str, dict[str, Any]]:
    """The nested blocks of a creation body, whichever Evolution release's spelling it uses.
    Unknown fields (blocks of channels the router does not serve, such as ``nats`` or
    ``kafka``, and fields of newer releases) are refused, or with ``strict=False`` ignored."""
    named = body.get("instanceName")
    if named is not None and named != instance:
        raise invalid(f"instanceName {shown(named)} differs from the path's {instance!r}")
    blocks: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str, str], str] = {}

    def put(block: str, name: str, value: Any, source: str) -> None:
        target = blocks.setdefault(block, {})
        seen = sources.setdefault((block, name), source)
        if seen != source and shown(target[name]) != shown(value):
            raise invalid(f"{seen} and {source} disagree; send only one of them")
        target[name] = value

    unknown = []
    for key, value in body.items():
        if key in ("instanceName", "token") or key in SESSION_FIELDS:
            continue
        if key.startswith(SESSION_PREFIXES):
            continue
        if key not in BLOCKS and key not in FLAT_CREATION_FIELDS:
            unknown.append(key)  # null or not: a field of its own name is still unknown
        elif value is None:
            continue
        elif key == "webhook" and isinstance(value, str):
            put("webhook", "url", value, key)  # 1.x and 2.0: "webhook" is the URL itself
        elif key in BLOCKS:
            if not isinstance(value, dict):
                raise invalid(f"{key} must be an object, not {type_name(value)}")
            blocks.setdefault(key, {})  # an empty block still switches its channel on
            for name, inner in value.items():
                put(key, name, inner, f"{key}.{name}")
        else:
            put(*FLAT_CREATION_FIELDS[key], value, key)
    if unknown and not strict:
        log.info("config.fields_ignored", where="instance", fields=sorted(unknown))
    elif unknown:
        raise invalid(
            f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(sorted(unknown))}; "
            f"accepted: instanceName and the blocks {', '.join(BLOCKS)} (or Evolution 2.0's "
            f"flat fields: {', '.join(FLAT_CREATION_FIELDS)})"
        )
    hook = blocks.get("webhook")
    if hook is not None and not any(hook.values()):
        # Older clients send an empty URL and false flags when they want no webhook at all;
        # checked first, so a value of the wrong type is refused rather than dropped with it.
        webhook_patch(hook, "webhook", strict=strict)
        del blocks["webhook"]
    return blocks


def replaced(
    patches: dict[str, dict[str, Any]], token: str | None, current: InstanceConfig
) -> InstanceConfig:
    """The whole document the creation body describes; blocks it leaves out are off.
    Labelled webhooks written through the other dialects are kept: Evolution only knows its
    own ``default`` webhook. The instance's token is kept unless one is sent."""
    others = tuple(w for w in current.webhooks if w.label != DEFAULT_LABEL)
    token = current.token if token is None or token == MASK else token
    fresh = InstanceConfig(instance=current.instance, webhooks=others, token=token)
    if "webhook" in patches:
        previous = current.webhook(DEFAULT_LABEL)
        patch = patches["webhook"] if previous is None else restored(patches["webhook"], previous)
        hook = merged_webhook(None, patch, "webhook", DEFAULT_LABEL)
        if previous is not None:
            hook = hook.model_copy(update={"created_at": previous.created_at})
        fresh = fresh.with_webhook(hook)
    for name in CHANNELS:
        if name in patches:
            block = merged_channel(current, name, patches[name], channel_of(fresh, name))
            fresh = fresh.with_channel(name, block)
    return fresh


def whole_answer(config: InstanceConfig) -> dict[str, Any]:
    token = MASK if config.token else None
    blocks = {name: block_answer(config, name) for name in BLOCKS}
    return {"instance": config.instance, "token": token} | blocks


@guarded
async def put_instance(request: web.Request) -> web.Response:
    config, existed = await create(request, instance_of(request), await read_object(request))
    return json_response(whole_answer(config), 200 if existed else 201)


async def create_instance(request: web.Request) -> web.Response:
    """``POST /instance/create`` as Evolution has it: the name in the body, fields the router
    does not serve ignored; the router's key, or the instance's own token once it exists."""
    body = await read_object(request)
    named = body.get("instanceName")
    if not isinstance(named, str):
        raise invalid("instanceName is required: the instance's name")
    instance = checked_instance(named)
    await authorise(request, instance)
    config, existed = await create(request, instance, body, strict=False)
    return json_response(whole_answer(config), 200 if existed else 201)


async def create(
    request: web.Request, instance: str, body: dict[str, Any], *, strict: bool = True
) -> tuple[InstanceConfig, bool]:
    token = body.get("token")
    if token is not None and not isinstance(token, str):
        raise invalid(f"token must be a string, not {type_name(token)}")
    blocks = creation_blocks(body, instance, strict=strict)
    patches = {
        name: webhook_patch(block, name, strict=strict)
        if name == "webhook"
        else channel_patch(block, name, strict=strict)
        for name, block in blocks.items()
    }
    for patch in patches.values():
        # As in Evolution's instance creation, a block that is sent is switched on.
        patch.setdefault("enabled", True)
    existed = await request.app[CONFIG].exists(instance)
    config = await apply(request, instance, functools.partial(replaced, patches, token))
    return config, existed


@guarded
async def delete_instance(request: web.Request) -> web.Response:
    instance = instance_of(request)
    if not await request.app[CONFIG].delete(instance):
        raise not_found(f"instance {instance!r} has no configuration to delete")
    return json_response({"deleted": True}, 200)


@guarded
async def delete_evolution_instance(request: web.Request) -> web.Response:
    """``DELETE /instance/delete/{instance}``, answered as Evolution answers it."""
    instance = instance_of(request)
    if not await request.app[CONFIG].delete(instance):
        raise not_found(f"the {instance!r} instance does not exist")
    answer = {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
    return json_response(answer, 200)
