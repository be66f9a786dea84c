"""``/ui``: the operator console's page and assets, its sign-in, and the middleware through
which the page's session opens the same API every other client uses.

The page calls the API as it is (``/ws``, ``/attempts``, the dialects), with the session cookie
in place of the key: the middleware checks the cookie, the anti-forgery token on every change
and the origin, and hands the request on carrying the router's key, so no handler knows the
console exists and the page never holds the key.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from router import metrics
from router.http.appkeys import SETTINGS
from router.http.auth import key_matches
from router.http.console.session import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    csrf_token,
    csrf_valid,
    new_session,
    session_valid,
)
from router.http.openapi import (
    Operation,
    Reply,
    documented,
    integer,
    obj,
    refusals,
    string,
)
from router.http.requests import (
    Refused,
    check_no_key_in_query,
    json_response,
    parse_json,
    read_body,
)

PREFIX: Final = "/ui"
STATIC: Final = Path(__file__).parent / "static"
# Every file the page loads, and its type: nothing else under /ui is served.
ASSETS: Final = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
# The page loads its own files only; the live view connects back to this host.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_SIGN_IN_BYTES: Final = 4096

SIGNED_IN = obj(
    {
        "csrf": string(f"Send it as {CSRF_HEADER} with every change."),
        "expires_in": integer("Seconds the session has left."),
    },
    ["csrf", "expires_in"],
)


def api_key(request: web.Request) -> str:
    return request.app[SETTINGS].authentication.api_key.get_secret_value()


def refused(status: int, reason: str, message: str) -> web.Response:
    metrics.API_REFUSED.labels(reason=reason).inc()
    return Refused(status, reason, message).response()


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


def asset(name: str) -> Handler:
    headers = PAGE_HEADERS | {"Content-Type": ASSETS[name]}

    async def serve(_: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / name, headers=headers)

    return serve


def signed_in(request: web.Request, token: str, expires_in: int) -> web.Response:
    return json_response(
        {"csrf": csrf_token(api_key(request), token), "expires_in": expires_in}, 200
    )


def answered(handler: Handler) -> Handler:
    """The session's calls: a key in their query string is refused as everywhere else, and a
    refusal is answered and counted."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            check_no_key_in_query(request, "api")
            return await handler(request)
        except Refused as error:
            return refused(error.status, error.reason, error.message)

    return run


async def sign_in(request: web.Request) -> web.Response:
    body = parse_json(await read_body(request, MAX_SIGN_IN_BYTES))
    key = body.get("key") if isinstance(body, dict) else None
    if not isinstance(key, str):
        return refused(422, "invalid", 'the body is {"key": "<the API key>"}')
    if not key_matches(api_key(request), key):
        return refused(401, "unauthorized", "wrong API key")
    session = new_session(api_key(request), time.time())
    answer = signed_in(request, session.token, SESSION_SECONDS)
    answer.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return answer


async def current(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE)
    now = time.time()
    if token is None or not session_valid(api_key(request), token, now):
        return refused(401, "unauthorized", "not signed in, or the session has ended")
    return signed_in(request, token, int(token.split(".")[0]) - int(now))


async def sign_out(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not csrf_valid(api_key(request), token, request.headers.get(CSRF_HEADER)):
        return refused(403, "csrf", f"signing out needs the session's {CSRF_HEADER}")
    answer = json_response({"signed_out": True}, 200)
    answer.del_cookie(SESSION_COOKIE, path="/")
    return answer


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request with the console's session and no key of its own goes on with the key."""
    token = request.cookies.get(SESSION_COOKIE)
    if (
        token is None
        or request.path.startswith(PREFIX)
        or "apikey" in request.headers
        or "Authorization" in request.headers
    ):
        return await handler(request)
    key = api_key(request)
    if not session_valid(key, token, time.time()):
        return await handler(request)  # an ended session is no key: the handler refuses
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return refused(403, "cross_origin", f"a session is used from this host only, not {origin}")
    if request.method not in SAFE_METHODS and not csrf_valid(
        key, token, request.headers.get(CSRF_HEADER)
    ):
        return refused(403, "csrf", f"a change made with a session needs its {CSRF_HEADER}")
    headers = CIMultiDict(request.headers)
    headers["apikey"] = key
    return await handler(request.clone(headers=headers))


PAGE = Operation(
    "The operator console",
    "console",
    {200: Reply("The page.", string(), "text/html")},
    auth="none",
)


def asset_operation(name: str) -> Operation:
    media = ASSETS[name].split(";")[0]
    return Operation(
        f"The console's {name}", "console", {200: Reply("The file.", string(), media)}, auth="none"
    )


SIGN_IN = Operation(
    "Sign in to the console: the API key for a session cookie (HttpOnly, SameSite=Strict)",
    "console",
    {200: Reply("Signed in; the cookie is set.", SIGNED_IN)} | refusals(400, 401, 413, 422),
    body={"application/json": obj({"key": string("The API key.")}, ["key"], closed=False)},
    auth="none",
)
CURRENT = Operation(
    "The console's session: its anti-forgery token, while it lasts",
    "console",
    {200: Reply("Signed in.", SIGNED_IN)} | refusals(400, 401),
    auth="none",
)
SIGN_OUT = Operation(
    "Sign out of the console",
    "console",
    {
        200: Reply("Signed out; the cookie is removed.", obj({"signed_out": {"const": True}})),
        403: Reply("Without the session's anti-forgery token.", refusals(401)[401].schema),
    }
    | refusals(400),
    auth="none",
)


def add_routes(app: web.Application) -> None:
    documented(app, "GET", PREFIX, page, PAGE)
    for name in ASSETS:
        documented(app, "GET", f"{PREFIX}/static/{name}", asset(name), asset_operation(name))
    documented(app, "POST", PREFIX + "/session", answered(sign_in), SIGN_IN)
    documented(app, "GET", PREFIX + "/session", answered(current), CURRENT)
    documented(app, "DELETE", PREFIX + "/session", answered(sign_out), SIGN_OUT)
