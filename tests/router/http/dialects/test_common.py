"""Configuration calls while the broker or the store is down: 503, nothing stored."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.config.configsvc import ConfigService
from router.config.settings import Settings
from router.config.store import MemoryStore
from router.http import dialects
from router.http.appkeys import CONFIG, SETTINGS
from schemas.instance_config import InstanceConfig

BODY = {"webhook": {"enabled": True, "url": "https://crm.example/h"}}


async def nothing(_: str) -> None:
    return None


class BrokenStore(MemoryStore):
    async def update(self, instance: str, change: Any) -> InstanceConfig | None:
        raise ConnectionRefusedError("database down")


async def client_for(service: ConfigService) -> TestClient[Any, Any]:
    app = web.Application()
    app[SETTINGS] = Settings.build()
    app[CONFIG] = service
    dialects.add_routes(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_broker_down_answers_503_and_stores_nothing() -> None:
    store = MemoryStore()
    client = await client_for(ConfigService(store, nothing, ready=lambda: False))
    try:
        response = await client.post("/webhook/set/shop", json=BODY)
        assert response.status == 503
        assert response.headers["Retry-After"]
        assert (await response.json())["error"] == "broker_unavailable"
    finally:
        await client.close()
    assert await store.all() == []


async def test_store_down_answers_503() -> None:
    client = await client_for(ConfigService(BrokenStore(), nothing))
    try:
        response = await client.post("/webhook/set/shop", json=BODY)
        assert response.status == 503
        answer = await response.json()
        assert answer["error"] == "store_unavailable"
        assert "database down" in answer["message"]
    finally:
        await client.close()
