"""``GET /attempts``: the delivery attempt history, newest first, a page at a time.

Served beside the configuration API and opened by the same keys: the router's key for every
instance, an instance's own token for that instance's attempts (``instance=`` given).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from aiohttp import web
from multidict import MultiMapping
from pydantic import TypeAdapter

from router.config.store.attempts import (
    EXACT_FILTERS,
    OUTCOMES,
    Attempt,
    AttemptLog,
    AttemptPage,
    AttemptQuery,
    Outcome,
    Position,
)
from router.history.cursor import BadCursor, cursor_key, decode_cursor, encode_cursor
from router.http.appkeys import ATTEMPTS, SETTINGS
from router.http.dialects.common import authorise, guarded
from router.http.openapi import (
    Operation,
    Param,
    Reply,
    array,
    documented,
    integer,
    nullable,
    obj,
    or_empty,
    refusals,
    string,
)
from router.http.requests import Refused, json_response, query_limit
from router.logging import get_logger
from schemas.timefmt import format_utc

log = get_logger("router.http.attempts")

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
PARAMETERS: Final = (*EXACT_FILTERS, "since", "until", "cursor", "limit")
EXAMPLE_TIME: Final = "2026-11-25T10:30:00.000Z"


# Every exact filter described; one the store adds and this leaves out fails at import.
FILTER_TEXT: Final = {
    "event_id": "One event's attempts.",
    "instance": "One instance's; an instance's own token opens only these.",
    "destination": "One destination, as the records show it (masked).",
    "outcome": "One outcome.",
    "adapter": "One adapter: webhook, sqs, pusher, ...",
    "label": "One webhook, by label.",
}
TIME = string(format="date-time")
LIST = Operation(
    "Delivery attempts, newest first, a page at a time",
    "history",
    {
        200: Reply(
            "A page; 'next' is the cursor of the following one, null on the last.",
            obj(
                {
                    "attempts": array(TypeAdapter(Attempt).json_schema()),
                    "next": nullable(string()),
                },
                ["attempts", "next"],
            ),
        )
    }
    | refusals(400, 401, 404, 503),
    params=(
        *(
            Param(
                name,
                "query",
                or_empty({"enum": list(OUTCOMES)}) if name == "outcome" else string(),
                FILTER_TEXT[name],
            )
            for name in EXACT_FILTERS
        ),
        Param("since", "query", or_empty(TIME), "From this time (ISO-8601)."),
        Param("until", "query", or_empty(TIME), "Up to this time (ISO-8601)."),
        Param("cursor", "query", string(), "The 'next' of the page before, same filters."),
        Param("limit", "query", or_empty(integer(minimum=1, maximum=MAX_LIMIT)), "Page size (50)."),
    ),
    auth="key_or_token",
    description="404 when the history is off (ROUTER_HISTORY_ENABLED=false).",
)


def add_routes(app: web.Application, attempts: AttemptLog | None) -> None:
    """The route, reading ``attempts``; with the history off (None), a route that says so."""
    if attempts is None:
        documented(app, "GET", "/attempts", guarded(history_off, auth=False), LIST)
        return
    app[ATTEMPTS] = attempts
    documented(app, "GET", "/attempts", guarded(list_attempts, auth=False), LIST)


async def history_off(request: web.Request) -> web.Response:
    await authorise(request, None)
    raise Refused(
        404, "not_found", "the attempt history is off here (ROUTER_HISTORY_ENABLED=false)"
    )


async def list_attempts(request: web.Request) -> web.Response:
    params = request.query
    # An instance's token opens that instance's attempts alone, as it opens its configuration.
    await authorise(request, params.get("instance") or None)
    key = cursor_key(request.app[SETTINGS].authentication.api_key.get_secret_value())
    query, scope = parse_query(params, key)
    try:
        page = await request.app[ATTEMPTS].find(query)
    except Exception as exc:
        log.exception("attempts.read_failed")
        raise Refused(
            503, "store_unavailable", f"the attempt history could not be read: {exc}"
        ) from None
    return json_response(answer(page, scope, key), 200)


def answer(page: AttemptPage, scope: Mapping[str, str], key: bytes) -> dict[str, Any]:
    following = page.next
    return {
        "attempts": [stored.attempt.to_json() for stored in page.attempts],
        "next": None if following is None else encode_cursor(following, scope, key),
    }


def bad(message: str) -> Refused:
    return Refused(400, "bad_query", message)


def parse_query(params: MultiMapping[str], key: bytes) -> tuple[AttemptQuery, dict[str, str]]:
    """The query the parameters ask for, and the filters its cursors are bound to."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise bad(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
            f"accepted: {', '.join(PARAMETERS)}"
        )
    values: dict[str, str] = {}
    for name in PARAMETERS:
        given = params.getall(name, [])
        if len(given) > 1:
            raise bad(f"{name} is given {len(given)} times; give it once")
        if given and given[0] != "":
            values[name] = given[0]
    filters = {name: values[name] for name in EXACT_FILTERS if name in values}
    outcome = outcome_of(filters.get("outcome"))
    since, until = moment("since", values.get("since")), moment("until", values.get("until"))
    if since is not None and until is not None and until < since:
        raise bad(f"until ({until}) is before since ({since})")
    scope: dict[str, str] = dict(filters)
    if since is not None:
        scope["since"] = since
    if until is not None:
        scope["until"] = until
    before: Position | None = None
    if "cursor" in values:
        try:
            before = decode_cursor(values["cursor"], scope, key)
        except BadCursor as exc:
            raise Refused(400, "bad_cursor", str(exc)) from None
    query = AttemptQuery(
        event_id=filters.get("event_id"),
        instance=filters.get("instance"),
        destination=filters.get("destination"),
        outcome=outcome,
        adapter=filters.get("adapter"),
        label=filters.get("label"),
        since=since,
        until=until,
        before=before,
        limit=query_limit(values.get("limit"), DEFAULT_LIMIT, MAX_LIMIT),
    )
    return query, scope


def outcome_of(value: str | None) -> Outcome | None:
    if value is None:
        return None
    for known in OUTCOMES:
        if value == known:
            return known
    raise bad(f"outcome must be one of {', '.join(OUTCOMES)}, not {value!r}")


def moment(name: str, value: str | None) -> str | None:
    """``value`` as the history's time format; a date alone is its midnight, a time without
    an offset is UTC."""
    if value is None:
        return None
    try:
        return format_utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        hint = "; a + in a query string reads as a space: send it as %2B" if " " in value else ""
        raise bad(
            f"{name} must be an ISO-8601 date and time such as {EXAMPLE_TIME}, not {value!r}{hint}"
        ) from None
