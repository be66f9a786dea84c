"""What every HTTP way in shares: a refusal as its answer, the key checked, a body read within
its limit, JSON parsed, an instance name checked. A refusal is raised anywhere below a handler
and answered once, with its reason counted."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from router.constants import HTTP_HEADER_DELIVERY
from router.http.appkeys import SETTINGS
from router.http.auth import count_refusal, key_matches, presented_key, refusal_of
from router.http.keys import HEADER_WAYS, Surface, stray_keys
from schemas import InvalidInstanceError, validate_instance

RETRY_AFTER_SECONDS = "5"


class Refused(Exception):
    """An answer other than 202, with the reason counted in metrics."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        retry_after: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.extra = status, reason, message, extra
        if retry_after is None and status == 503:
            retry_after = RETRY_AFTER_SECONDS
        self.retry_after = retry_after

    def response(self) -> web.Response:
        headers = {"Retry-After": self.retry_after} if self.retry_after else None
        body = {"error": self.reason, "message": self.message, **self.extra}
        return json_response(body, self.status, headers)


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def check_not_looped(request: web.Request) -> None:
    """A request a router delivered (a webhook pointed at an ingest path) would come round
    again and again: refused as final, so the delivering router dead-letters it."""
    if HTTP_HEADER_DELIVERY in request.headers:
        raise Refused(
            400,
            "loop",
            f"this request was delivered by a router ({HTTP_HEADER_DELIVERY}): a webhook of "
            "the router points at its own ingest; point it at a receiver",
        )


def check_no_key_in_query(
    request: web.Request, surface: Surface, *, instead: str = HEADER_WAYS
) -> None:
    """Refuse a key sent in the query string where ``surface`` does not read one there
    (``router.http.keys``), whether or not a header carries one too: the key is in the URL,
    and so in every log the URL passes through, until the client is told."""
    stray = stray_keys(request.query.keys(), surface)
    if stray:
        count_refusal(surface, "key_in_query")
        names = ", ".join(f"?{name}=" for name in stray)
        raise Refused(
            400,
            "key_in_query",
            f"a key in the query string ({names}) is not read here: URLs end up in access "
            f"logs and browser history. Send it as {instead}",
        )


def unauthorized(surface: Surface, presented: str | None, message: str) -> Refused:
    """The 401 of a missing or wrong key, counted by surface and reason as it is made (each
    check raises it at most once per request)."""
    count_refusal(surface, refusal_of(presented))
    return Refused(401, "unauthorized", message)


def check_auth(request: web.Request, surface: Surface = "ingest") -> None:
    check_not_looped(request)
    check_no_key_in_query(request, surface)
    expected = request.app[SETTINGS].authentication.api_key.get_secret_value()
    presented = presented_key(request)
    if not key_matches(expected, presented):
        raise unauthorized(
            surface, presented, "missing or wrong API key (apikey header or Bearer token)"
        )


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes ``limit`` (chunked bodies too)."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "too_large", f"request body is over {limit} bytes")
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            raise Refused(413, "too_large", f"request body is over {limit} bytes")
    return bytes(body)


def parse_json(body: bytes | bytearray) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "malformed_json", f"body is not valid JSON: {exc}") from None


def parse_ndjson(body: bytes) -> list[Any]:
    items = []
    for number, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise Refused(
                    400, "malformed_json", f"line {number} is not valid JSON: {exc}"
                ) from None
    return items


def checked_instance(name: str) -> str:
    """``name`` when it is a valid instance name, else a 422 ``bad_instance`` saying why."""
    try:
        return validate_instance(name)
    except InvalidInstanceError as exc:
        raise Refused(422, "bad_instance", str(exc)) from None


def validation_problems(exc: ValidationError) -> str:
    """Every problem pydantic found, each with where: ``data.x: ...; id: ...``."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def query_value(request: web.Request, name: str) -> str | None:
    """A query parameter given at most once; given twice, which one was meant is anyone's
    guess, so it is refused rather than the first one silently taken."""
    given = request.query.getall(name, [])
    if len(given) > 1:
        raise Refused(400, "bad_query", f"{name} is given {len(given)} times; give it once")
    return given[0] if given else None


def query_limit(value: str | None, default: int, most: int, name: str = "limit") -> int:
    """A page size (or another count) from the query string: ``default`` when not given (or
    empty), else a whole number from 1 to ``most``."""
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= most:
        raise Refused(
            400, "bad_query", f"{name} must be a whole number from 1 to {most}, not {value!r}"
        )
    return int(value)
