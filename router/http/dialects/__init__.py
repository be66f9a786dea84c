"""The per-instance configuration APIs: Evolution's, RyzeAPI's and CodeChat's calls, each
spoken over the same stored document, so a platform built on any of them can point its
configuration calls at the router."""

from aiohttp import web

from router.http.dialects import codechat, evolution, ryzeapi


def add_routes(app: web.Application) -> None:
    evolution.add_routes(app)
    ryzeapi.add_routes(app)
    codechat.add_routes(app)
