"""aiohttp's own refusals in the router's JSON: no such path, a method the path does not take,
a body over the limit. Clients then read one shape, ``{"error", "message"}``, whatever refused
them."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from router import metrics
from router.http.requests import json_response

# aiohttp's status, and the word the router's own refusals would use for it.
REASONS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def message_for(request: web.Request, error: web.HTTPException) -> str:
    if error.status == 404:
        return f"nothing here: {request.method} {request.path}"
    if error.status == 405:
        allowed = ", ".join(sorted(getattr(error, "allowed_methods", ()) or ()))
        return f"{request.method} is not taken by {request.path}; it takes {allowed}"
    return error.text or error.reason


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        body = {
            "error": REASONS.get(error.status, error.reason.lower().replace(" ", "_")),
            "message": message_for(request, error),
        }
        metrics.API_REFUSED.labels(reason=body["error"]).inc()
        allow = error.headers.get("Allow")
        return json_response(body, error.status, {"Allow": allow} if allow else None)
