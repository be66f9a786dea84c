"""Every configuration path of the three dialects, each with what the API document says of it.

Field names come from the dialects' own tables, so a field a dialect learns is documented by
the same edit. Evolution's paths ignore fields they do not know, as Evolution does (their
bodies are open); the router's own and the other dialects' refuse them (closed). A field sent
as null is the same as one left out: the stored value stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from router.http.dialects import codechat, evolution, ryzeapi
from router.http.dialects.common import guarded
from router.http.openapi import (
    ANY_JSON,
    INSTANCE,
    Component,
    Operation,
    Param,
    Reply,
    array,
    boolean,
    documented,
    nullable,
    obj,
    refusals,
    string,
)
from schemas.shapes import FORMATS

# Beside its answer, what each kind of call may be refused with.
CHANGE_REFUSALS = refusals(400, 401, 413, 422, 503)
READ_REFUSALS = refusals(401, 422, 503)

EVENTS = array(string(), "Event names in any catalog spelling (MESSAGES_UPSERT, messages.upsert).")
HEADERS = {"type": "object", "additionalProperties": string()}
FORMAT = string("The payload's shape.", enum=list(FORMATS))
# Header values and secrets answered as this; sent back unchanged, they keep what is stored.
MASKED = "Masked in answers; the mask sent back keeps the stored value."


def optional(properties: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Each property may also be null, which leaves the stored value."""
    return {name: nullable(schema) for name, schema in properties.items()}


def spellings(names: Iterable[str], schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict.fromkeys(names, schema)


EVOLUTION_WEBHOOK = optional(
    {
        "enabled": boolean(),
        "url": string("The http or https URL to post events to."),
        "headers": HEADERS | {"description": MASKED},
        "events": EVENTS,
        "format": FORMAT,
        **spellings(evolution.BY_EVENTS, boolean("Post to <url>/<event suffix>.")),
        **spellings(evolution.BASE64, boolean("Media as base64 in the body.")),
        **spellings(evolution.BACKFILL_SINCE, string("Send the archive from this time first.")),
    }
)
CHANNEL = optional({"enabled": boolean(), "events": EVENTS})
PUSHER = CHANNEL | optional(
    {
        **{name: string(MASKED if name == "secret" else "") for name in evolution.PUSHER_STRINGS},
        "useTLS": boolean(),
    }
)
BLOCKS = {"webhook": EVOLUTION_WEBHOOK, "pusher": PUSHER} | {
    name: CHANNEL for name in evolution.CHANNELS if name != "pusher"
}
assert set(BLOCKS) == set(evolution.BLOCKS)
BLOCK_SCHEMAS = {
    name: Component(f"Evolution{name.capitalize()}Block", obj(block, closed=False))
    for name, block in BLOCKS.items()
}


def set_body() -> dict[str, Any]:
    """The block, wrapped (``{"webhook": {...}}``) or sent flat; one schema per block name."""
    choices: list[Any] = []
    for name, inner in BLOCK_SCHEMAS.items():
        choices += [obj({name: inner}, [name], closed=False), inner]
    return {"anyOf": choices}


CREATION = obj(
    {
        "instanceName": nullable(string("The instance; when given, the same as the path's.")),
        "token": nullable(string("The instance's own key: it opens this instance's calls.")),
        **{name: {"anyOf": [inner, {"type": "null"}]} for name, inner in BLOCK_SCHEMAS.items()},
        **{name: ANY_JSON for name in evolution.FLAT_CREATION_FIELDS},
        **{name: ANY_JSON for name in evolution.SESSION_FIELDS},
    },
    description="Evolution's instance-creation body; blocks left out are switched off.",
)
CREATION["patternProperties"] = {f"^{prefix}": ANY_JSON for prefix in evolution.SESSION_PREFIXES}
OPEN_CREATION = {
    **CREATION,
    "properties": {**CREATION["properties"], "instanceName": INSTANCE},
    "additionalProperties": True,
    "required": ["instanceName"],
}

BLOCK_ANSWER = nullable({"type": "object", "description": "The block as Evolution answers it."})
WHOLE_ANSWER = obj(
    {"instance": string(), "token": nullable(string(MASKED))}
    | {name: {"type": "object"} for name in BLOCKS},
    ["instance"],
    closed=False,
)

RYZE_WEBHOOK = obj(
    optional(
        {
            "url": string("The http or https URL to post events to."),
            "enabled": boolean(),
            "events": array(string(), "RyzeAPI's types (message, status, ...) or catalog names."),
            "authorization": string("Sent as the Authorization header. " + MASKED),
            "mediaBase64": boolean(),
            "label": string("Which webhook; default when left out."),
            "format": FORMAT,
        }
    )
)
assert set(RYZE_WEBHOOK["properties"]) == ryzeapi.WEBHOOK_FIELDS
RYZE_WEBSOCKET = obj({"enabled": boolean(), "events": nullable(EVENTS)}, ["enabled"])
assert set(RYZE_WEBSOCKET["properties"]) == ryzeapi.WEBSOCKET_FIELDS

SWITCHES = {
    "type": "object",
    "additionalProperties": boolean(),
    "description": "Event name (camelCase or any catalog spelling) -> on or off.",
}
CODECHAT_CREATE = obj(
    optional(
        {
            "url": string("The http or https URL to post events to."),
            "enabled": boolean(),
            "events": SWITCHES,
            "name": string("The webhook's id; the next free one when left out."),
            "label": string("Another spelling of name."),
            "format": FORMAT,
        }
    )
)
assert set(CODECHAT_CREATE["properties"]) == codechat.CREATE_FIELDS
CODECHAT_WEBHOOK = obj(
    {"id": string(), "url": string(), "enabled": boolean(), "events": SWITCHES},
    ["id", "url", "enabled", "events"],
    closed=False,
)

OBJECT = {"type": "object"}


def change(
    summary: str,
    tag: str,
    status: int,
    answer: Any,
    body: Any,
    more: Mapping[int, Reply] | None = None,
) -> Operation:
    stored = {status: Reply("Stored; the configuration as it now is.", answer)}
    return Operation(
        summary,
        tag,
        stored | CHANGE_REFUSALS | dict(more or {}),
        body={"application/json": body},
        auth="key_or_token",
    )


def read(summary: str, tag: str, answer: Any, **more: Any) -> Operation:
    replies = {200: Reply("The configuration.", answer)} | READ_REFUSALS
    return Operation(summary, tag, replies | more.pop("replies", {}), auth="key_or_token", **more)


def add_routes(app: web.Application) -> None:
    block = "{block:" + "|".join(evolution.BLOCKS) + "}"
    routes = [
        (
            "POST",
            f"/{block}/set/{{instance}}",
            evolution.set_block,
            change(
                "Set one of Evolution's blocks",
                "evolution",
                201,
                OBJECT,
                set_body(),
                refusals(404),  # a block the path does not name
            ),
        ),
        (
            "GET",
            f"/{block}/find/{{instance}}",
            evolution.find_block,
            read(
                "Read one of Evolution's blocks",
                "evolution",
                BLOCK_ANSWER,
                replies=refusals(404),
            ),
        ),
        (
            "PUT",
            "/instances/{instance}",
            evolution.put_instance,
            change(
                "Set every block at once (the instance-creation body)",
                "evolution",
                201,
                WHOLE_ANSWER,
                CREATION,
                {200: Reply("Replaced; the whole configuration.", WHOLE_ANSWER)},
            ),
        ),
        (
            "DELETE",
            "/instances/{instance}",
            evolution.delete_instance,
            read(
                "Forget the instance's configuration",
                "evolution",
                obj({"deleted": boolean()}, ["deleted"]),
                replies=refusals(404),
            ),
        ),
        (
            "POST",
            "/instance/create",
            guarded(evolution.create_instance, auth=False),
            change(
                "Create an instance's configuration as Evolution's /instance/create",
                "evolution",
                201,
                WHOLE_ANSWER,
                OPEN_CREATION,
                {200: Reply("Replaced; the whole configuration.", WHOLE_ANSWER)},
            ),
        ),
        (
            "DELETE",
            "/instance/delete/{instance}",
            evolution.delete_evolution_instance,
            read(
                "Forget the instance's configuration, answered as Evolution answers",
                "evolution",
                OBJECT,
                replies=refusals(404),
            ),
        ),
        (
            "POST",
            "/api/events/webhook/{instance}",
            ryzeapi.post_webhook,
            change("Create or change a labelled webhook", "ryzeapi", 201, OBJECT, RYZE_WEBHOOK),
        ),
        (
            "GET",
            "/api/events/getWebhook/{instance}",
            ryzeapi.get_webhook,
            read(
                "The instance's webhooks, or one with ?label=",
                "ryzeapi",
                {"anyOf": [array(OBJECT), OBJECT]},
                params=(Param("label", "query", string(), "One webhook."),),
                replies=refusals(404),
            ),
        ),
        (
            "POST",
            "/api/events/websocket/{instance}",
            ryzeapi.post_websocket,
            change("Switch the WebSocket stream", "ryzeapi", 200, OBJECT, RYZE_WEBSOCKET),
        ),
        (
            "GET",
            "/api/events/getWebsocket/{instance}",
            ryzeapi.get_websocket,
            read("The WebSocket switch", "ryzeapi", OBJECT),
        ),
        (
            "POST",
            "/api/v2/instance/{instance}/webhook",
            codechat.create_webhook,
            change(
                "Create a webhook",
                "codechat",
                201,
                CODECHAT_WEBHOOK,
                CODECHAT_CREATE,
                refusals(409),
            ),
        ),
        (
            "GET",
            "/api/v2/instance/{instance}/webhook",
            codechat.list_webhooks,
            read("The instance's webhooks", "codechat", array(CODECHAT_WEBHOOK)),
        ),
        (
            "PATCH",
            "/api/v2/instance/{instance}/webhook/{webhookId}/events",
            codechat.patch_events,
            change(
                "Switch events of a webhook on and off",
                "codechat",
                200,
                CODECHAT_WEBHOOK,
                {"anyOf": [SWITCHES, obj({"events": SWITCHES}, ["events"])]},
                refusals(404),
            ),
        ),
    ]
    for method, path, handler, operation in routes:
        documented(app, method, path, handler, operation)
