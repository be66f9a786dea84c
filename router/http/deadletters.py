"""``/dlq``: the dead-letter queues over HTTP, as ``router dlq`` has them: how many letters each
role's queue holds, the letters of one (left in the queue), and a replay of all of them or of
those chosen by event id, followed while it runs. Served by the ingest role, with the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiormq
from aiohttp import web

from router.delivery import dlq
from router.http.dialects.common import guarded
from router.http.openapi import (
    Operation,
    Param,
    Reply,
    array,
    documented,
    integer,
    nullable,
    obj,
    refusals,
    string,
)
from router.http.requests import (
    Refused,
    json_response,
    parse_json,
    query_limit,
    query_value,
    read_body,
)

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_REQUEST_BYTES: Final = 1024 * 1024
KEPT_REPLAYS: Final = 100  # finished replays still answered by id


@dataclass(slots=True)
class Replay:
    id: str
    role: str
    queue: str
    total: int = 0
    done: int = 0
    state: str = "running"
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replay": self.id,
            "role": self.role,
            "queue": self.queue,
            "state": self.state,
            "replayed": self.done,
            "total": self.total,
            "error": self.error,
        }


class DeadLetters:
    """The dead-letter queues this deployment has, by role, and the replays started here."""

    def __init__(self, url: str, queues: Mapping[str, str]) -> None:
        self.url, self.queues = url, dict(queues)
        self.replays: dict[str, Replay] = {}

    def queue_of(self, role: str) -> str:
        queue = self.queues.get(role)
        if queue is None:
            known = ", ".join(self.queues)
            raise Refused(404, "not_found", f"no dead-letter queue for {role!r}; roles: {known}")
        return queue

    def start(self, role: str, only: list[str] | None, limit: int | None) -> Replay:
        replay = Replay(uuid.uuid4().hex[:12], role, self.queue_of(role))

        def heard(done: int, total: int) -> None:
            replay.done, replay.total = done, total

        async def run() -> None:
            try:
                await dlq.replay(self.url, replay.queue, limit, heard, only)
            except Exception as exc:
                replay.state, replay.error = "failed", f"{type(exc).__name__}: {exc}"
            else:
                replay.state = "done"

        replay.task = asyncio.create_task(run())
        self.replays[replay.id] = replay
        finished = [r for r in self.replays.values() if r.state != "running"]
        for old in finished[: max(0, len(finished) - KEPT_REPLAYS)]:
            del self.replays[old.id]
        return replay

    async def close(self) -> None:
        tasks = [r.task for r in self.replays.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


DEAD_LETTERS = web.AppKey("dead_letters", DeadLetters)

UNAVAILABLE = (ConnectionError, aiormq.exceptions.AMQPError, TimeoutError)


@contextlib.asynccontextmanager
async def broker_errors() -> AsyncIterator[None]:
    try:
        yield
    except UNAVAILABLE as exc:
        raise Refused(503, "broker_unavailable", f"RabbitMQ: {exc}") from None


async def list_queues(request: web.Request) -> web.Response:
    letters = request.app[DEAD_LETTERS]
    async with broker_errors():
        found = await dlq.counts(letters.url, list(letters.queues.values()))
    queues = [
        {"role": role, "queue": queue, "messages": found[queue]}
        for role, queue in letters.queues.items()
    ]
    return json_response({"queues": queues}, 200)


async def list_letters(request: web.Request) -> web.Response:
    letters = request.app[DEAD_LETTERS]
    role = request.match_info["role"]
    queue = letters.queue_of(role)
    limit = query_limit(query_value(request, "limit"), DEFAULT_LIMIT, MAX_LIMIT)
    async with broker_errors():
        total = (await dlq.counts(letters.url, [queue]))[queue]
        if total is None:
            raise Refused(404, "not_found", f"{queue} is not declared yet: its role never ran")
        shown = await dlq.list_messages(letters.url, queue, limit)
    return json_response(
        {"role": role, "queue": queue, "messages": total, "letters": [d.as_dict() for d in shown]},
        200,
    )


async def start_replay(request: web.Request) -> web.Response:
    letters = request.app[DEAD_LETTERS]
    role = request.match_info["role"]
    letters.queue_of(role)
    raw = await read_body(request, MAX_REQUEST_BYTES)
    body = parse_json(raw) if raw.strip() else {}  # no body: every letter
    if not isinstance(body, dict) or set(body) - {"ids", "limit"}:
        raise Refused(422, "invalid", 'the body is {"ids": [event ids]} or {"limit": n} or {}')
    ids, limit = body.get("ids"), body.get("limit")
    if ids is not None and (
        not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids)
    ):
        raise Refused(422, "invalid", "'ids' must be a non-empty list of event ids")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise Refused(422, "invalid", "'limit' must be a whole number from 1")
    replay = letters.start(role, ids, limit)
    return json_response(replay.as_dict(), 202)


async def follow_replay(request: web.Request) -> web.Response:
    replay = request.app[DEAD_LETTERS].replays.get(request.match_info["replay"])
    if replay is None or replay.role != request.match_info["role"]:
        raise Refused(
            404,
            "not_found",
            "no such replay here (replays are known to the process that started them)",
        )
    return json_response(replay.as_dict(), 200)


LETTER = obj(
    {
        name: nullable(integer() if name == "attempts" else string())
        for name in dlq.DeadLetter.__slots__
    },
    list(dlq.DeadLetter.__slots__),
)
PROGRESS = obj(
    {
        "replay": string(),
        "role": string(),
        "queue": string(),
        "state": string(enum=["running", "done", "failed"]),
        "replayed": integer(),
        "total": integer(),
        "error": nullable(string()),
    },
    ["replay", "role", "queue", "state", "replayed", "total", "error"],
)
QUEUES = Operation(
    "Every dead-letter queue and how many letters it holds",
    "dead letters",
    {
        200: Reply(
            "By role; messages is null for a queue not declared yet.",
            obj(
                {
                    "queues": array(
                        obj(
                            {"role": string(), "queue": string(), "messages": nullable(integer())},
                            ["role", "queue", "messages"],
                        )
                    )
                },
                ["queues"],
            ),
        )
    }
    | refusals(401, 503),
)
LETTERS = Operation(
    "A role's dead letters, oldest first, left in the queue",
    "dead letters",
    {
        200: Reply(
            "Up to limit letters; messages is how many the queue holds.",
            obj(
                {
                    "role": string(),
                    "queue": string(),
                    "messages": integer(),
                    "letters": array(LETTER),
                },
                ["role", "queue", "messages", "letters"],
            ),
        )
    }
    | refusals(400, 401, 404, 503),
    params=(Param("limit", "query", integer(minimum=1, maximum=MAX_LIMIT), "100 when absent."),),
)
REPLAY = Operation(
    "Send a role's dead letters back for delivery, all or those chosen, under their own ids",
    "dead letters",
    {202: Reply("Started; follow it by its id.", PROGRESS)} | refusals(400, 401, 404, 413, 422),
    body={
        "application/json": obj(
            {
                "ids": array(string(), minItems=1, description="Only these events."),
                "limit": integer(minimum=1, description="At most this many, oldest first."),
            }
        )
    },
)
FOLLOW = Operation(
    "How far a dead-letter replay has got",
    "dead letters",
    {200: Reply("Its progress.", PROGRESS)} | refusals(401, 404),
)


def add_routes(app: web.Application, url: str, queues: Mapping[str, str]) -> None:
    letters = DeadLetters(url, queues)
    app[DEAD_LETTERS] = letters

    async def closing(_: web.Application) -> None:
        await letters.close()

    app.on_shutdown.append(closing)
    documented(app, "GET", "/dlq", guarded(list_queues), QUEUES)
    documented(app, "GET", "/dlq/{role}", guarded(list_letters), LETTERS)
    documented(app, "POST", "/dlq/{role}/replay", guarded(start_replay), REPLAY)
    documented(app, "GET", "/dlq/{role}/replay/{replay}", guarded(follow_replay), FOLLOW)
