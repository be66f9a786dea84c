"""The API document of every path the router can serve: each role switched on, so the copy in
the repository (``docs/openapi.json``, from ``router openapi``) describes them all, whatever one
deployment runs. Built without I/O: the application is made, never started."""

from __future__ import annotations

from router.app import create_app
from router.config.settings import Settings
from router.http.openapi import render
from router.roles import NAMES


def every_role() -> Settings:
    return Settings.build(
        webhook={"global_enabled": True, "global_url": "http://127.0.0.1:9/"},
        sqs={"enabled": True},
        pusher={"enabled": True},
        websocket={"enabled": True, "global_events": True},
    )


def full_document() -> str:
    settings = every_role()
    roles = [name for name in NAMES if name != "bridge"]
    return render(create_app(settings, roles))
