"""``GET /openapi.json``: the document of the paths this process serves, built once."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import orjson
from aiohttp import web

from router.http.openapi.render import document
from router.http.openapi.spec import Operation, Reply, documented

TITLE = "evrouter"
PATH = "/openapi.json"

SERVE = Operation(
    "The API document (OpenAPI 3.1) of what this process serves",
    "operations",
    {200: Reply("The document.", {"type": "object"})},
    auth="none",
)


def document_of(app: web.Application) -> dict[str, Any]:
    return document(app, title=TITLE, version=version("evrouter"))


def render(app: web.Application) -> str:
    """The document as kept in the repository: sorted keys, two spaces, a final newline."""
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    return orjson.dumps(document_of(app), option=options).decode() + "\n"


class Served:
    """Routes are fixed once the application runs, so the first document built stands."""

    def __init__(self) -> None:
        self.body: bytes | None = None

    async def answer(self, request: web.Request) -> web.Response:
        if self.body is None:
            self.body = orjson.dumps(document_of(request.app))
        return web.Response(body=self.body, content_type="application/json")


def add_routes(app: web.Application) -> None:
    documented(app, "GET", PATH, Served().answer, SERVE)
