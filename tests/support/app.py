"""Running the router's HTTP app on a loopback port inside a test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from router.app import create_app
from router.config.settings import Settings
from router.config.store import ConfigStore, MemoryStore
from router.delivery.adapter import Adapter
from router.http.appkeys import BROKER

API_KEY = "test-key"


def router_settings(amqp_url: str, exchange: str, **families: Mapping[str, Any]) -> Settings:
    merged: dict[str, dict[str, Any]] = {
        "rabbitmq": {"uri": amqp_url, "exchange_name": exchange},
        "authentication": {"api_key": API_KEY},
        "log": {"format": "json"},
    }
    for name, values in families.items():
        merged.setdefault(name, {}).update(values)
    return Settings.build(**merged)


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings,
    roles: Iterable[str] | None = None,
    adapters: Mapping[str, Adapter] | None = None,
    *,
    wait_ready: bool = True,
    store: ConfigStore | None = None,
) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, roles, adapters=adapters, store=store or MemoryStore())
    async with TestClient(TestServer(app)) as client:
        if wait_ready:
            await app[BROKER].wait_ready(15)
        yield client
