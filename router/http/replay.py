"""``POST /replay`` and ``GET /replay/{id}``: events sent again from the archive, and how far
a replay has got. Served by the ingest role, with the API key."""

from __future__ import annotations

import aiormq
from aiohttp import web

from router.amqp.streams import StreamStalled
from router.http.dialects.common import guarded
from router.http.openapi import (
    INSTANCE,
    Operation,
    Reply,
    array,
    documented,
    integer,
    nullable,
    obj,
    refusals,
    string,
)
from router.http.requests import Refused, json_response, parse_json, read_body
from router.replay.plan import PlanRefused
from router.replay.service import ReplayService

REPLAYS = web.AppKey("replays", ReplayService)
MAX_REQUEST_BYTES = 2 * 1024 * 1024  # room for the most event ids a replay takes


async def post_replay(request: web.Request) -> web.Response:
    service = request.app.get(REPLAYS)
    if service is None:
        raise Refused(
            409,
            "archive_off",
            "the archive is off (ROUTER_ARCHIVE_ENABLED=false): nothing to replay",
        )
    body = parse_json(await read_body(request, MAX_REQUEST_BYTES))
    try:
        plan = await service.plan(body)
        progress = await service.start(plan)
    except PlanRefused as refused:
        raise Refused(422, "invalid_replay", str(refused)) from None
    except (TimeoutError, StreamStalled, ConnectionError, aiormq.exceptions.AMQPError) as exc:
        raise Refused(503, "broker_unavailable", f"the archive could not be read: {exc}") from None
    return json_response(
        {
            "replay": progress.id,
            "matched": progress.matched,
            "available_since": progress.as_dict()["available_since"],
        },
        202,
    )


async def get_replay(request: web.Request) -> web.Response:
    service = request.app.get(REPLAYS)
    replay = request.match_info["replay"]
    progress = None if service is None else service.get(replay)
    if progress is None:
        raise Refused(
            404,
            "unknown_replay",
            f"no replay {replay!r} here (replays are known to the process that started them, "
            "for the last 100 finished)",
        )
    return json_response(progress.as_dict(), 200)


TIME = string(format="date-time")
REQUEST = obj(
    {
        "since": string(
            "From this time (ISO-8601); may be left out when every event id is a "
            "UUIDv7, which carries its time."
        ),
        "until": string("Up to this time (ISO-8601); now when left out."),
        "instance": INSTANCE,
        "events": array(string(), "These events only, in any catalog spelling."),
        "event_ids": array(string(), "These events only, by id."),
        "to": string(
            "Where to: an adapter role (webhook, sqs, pusher), amqp (the downstream queues) "
            "or webhook:<label> (one per-instance webhook); every destination when left out."
        ),
    }
)
STARTED = obj(
    {"replay": string(), "matched": integer(), "available_since": nullable(TIME)},
    ["replay", "matched", "available_since"],
)
PROGRESS = obj(
    {
        "replay": string(),
        "state": string(),
        "matched": integer(),
        "sent": integer(),
        "copies": integer(),
        "unwanted": integer(),
        "error": nullable(string()),
        "resumes": integer(),
        "available_since": nullable(TIME),
        "started_at": TIME,
        "finished_at": nullable(TIME),
        "plan": {"type": "object"},
    },
    ["replay", "state", "matched", "sent"],
    closed=False,
)
START = Operation(
    "Send events again from the archive, under their original ids",
    "replay",
    {202: Reply("Started; GET /replay/{replay} tells how far it got.", STARTED)}
    | refusals(400, 401, 409, 413, 422, 503),
    body={"application/json": REQUEST},
)
FOLLOW = Operation(
    "How far a replay has got",
    "replay",
    {200: Reply("Its progress.", PROGRESS)} | refusals(401, 404),
)


def add_routes(app: web.Application) -> None:
    documented(app, "POST", "/replay", guarded(post_replay), START)
    documented(app, "GET", "/replay/{replay}", guarded(get_replay), FOLLOW)
