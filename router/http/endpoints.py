"""``POST /endpoints/enable``: a per-instance webhook that was disabled (failing for too long,
or gone) switched on again, and, when asked, sent what it missed from the archive."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from router.config.configsvc import ConfigRefused
from router.delivery.lifecycle import MISSED_MARGIN, enabled_again
from router.http.appkeys import CONFIG
from router.http.dialects.common import guarded
from router.http.openapi import (
    INSTANCE,
    Operation,
    Reply,
    boolean,
    documented,
    integer,
    obj,
    refusals,
    string,
)
from router.http.replay import REPLAYS
from router.http.requests import Refused, checked_instance, json_response, parse_json, read_body
from router.replay.plan import ReplayPlan, stamp

MAX_REQUEST_BYTES = 16 * 1024


async def post_enable(request: web.Request) -> web.Response:
    body = parse_json(await read_body(request, MAX_REQUEST_BYTES))
    if not isinstance(body, dict):
        raise Refused(422, "invalid", 'the body must be {"instance", "label", "replay"}')
    unknown = sorted(set(body) - {"instance", "label", "replay"})
    if unknown:
        raise Refused(
            422, "invalid", f"unknown field {unknown[0]!r}; fields: instance, label, replay"
        )
    instance, label, replay = (
        body.get("instance"),
        body.get("label", "default"),
        body.get("replay", False),
    )
    if not isinstance(instance, str) or not isinstance(label, str):
        raise Refused(422, "invalid", "'instance' and 'label' must be strings")
    if not isinstance(replay, bool):
        raise Refused(422, "invalid", "'replay' must be true or false")
    checked_instance(instance)
    config = request.app[CONFIG]
    hook = (await config.get(instance)).webhook(label)
    if hook is None:
        raise Refused(404, "not_found", f"instance {instance!r} has no webhook {label!r}")
    replays = request.app.get(REPLAYS)
    if replay and replays is None:
        raise Refused(
            409,
            "archive_off",
            "the archive is off (ROUTER_ARCHIVE_ENABLED=false): nothing to replay",
        )
    # What it missed: everything since it began to fail (or was disabled at once).
    missed_since = hook.failing_since or hook.disabled_at
    try:
        await config.update(instance, lambda current: enabled_again(current, label))
    except (ConfigRefused, LookupError) as exc:
        raise Refused(422, "invalid", str(exc)) from None
    answer: dict[str, object] = {"instance": instance, "label": label, "enabled": True}
    if replay and replays is not None and missed_since is not None:
        since = datetime.fromisoformat(missed_since) - MISSED_MARGIN
        plan = ReplayPlan.to_webhook(instance, label, since)
        answer["since"] = stamp(plan.since)
        try:
            progress = await replays.start(plan)
        except Exception as exc:
            # Enabled all the same; the replay can be asked for again (POST /replay) from
            # the ``since`` this answer gives.
            answer["replay_error"] = f"{type(exc).__name__}: {exc}"
        else:
            answer |= {"replay": progress.id, "matched": progress.matched}
    return json_response(answer, 200)


ENABLE = Operation(
    "Switch a disabled per-instance webhook on again",
    "endpoints",
    {
        200: Reply(
            "Enabled; with replay, what it missed is being sent (or replay_error says why not).",
            obj(
                {
                    "instance": string(),
                    "label": string(),
                    "enabled": boolean(),
                    "since": string(format="date-time"),
                    "replay": string(),
                    "matched": integer(),
                    "replay_error": string(),
                },
                ["instance", "label", "enabled"],
            ),
        )
    }
    | refusals(400, 401, 404, 409, 413, 422, 503),
    body={
        "application/json": obj(
            {
                "instance": INSTANCE,
                "label": string("The webhook's label; default when left out."),
                "replay": boolean("Send what it missed, from 5 minutes before it began to fail."),
            },
            ["instance"],
        )
    },
)


def add_routes(app: web.Application) -> None:
    documented(app, "POST", "/endpoints/enable", guarded(post_enable), ENABLE)
