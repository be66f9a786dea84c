"""An app with only the configuration dialects over an in-memory store, and the checks every
refusal shares: the status and error code, nothing stored, nothing announced."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.config.configsvc import ConfigService
from router.config.settings import Settings
from router.config.store.base import MemoryStore
from router.http import dialects
from router.http.appkeys import CONFIG, SETTINGS
from schemas.instance_config import InstanceConfig

API_KEY = "k"
AUTH = {"apikey": API_KEY}


@dataclass
class Harness:
    client: TestClient[web.Request, web.Application]
    store: MemoryStore
    announced: list[str] = field(default_factory=list)

    async def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        response = await self.client.request(
            method, path, json=body if raw is None else None, data=raw, headers=AUTH
        )
        return response.status, await response.json()

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = await self.call(method, path, body)
        assert got == status, answer
        return answer

    async def refused(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int,
        error: str,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The refusal's body, after checking that it stored and announced nothing."""
        before: list[InstanceConfig] = await self.store.all()
        announced = list(self.announced)
        if headers is None:
            got, answer = await self.call(method, path, body, raw=raw)
        else:
            response = await self.client.request(method, path, json=body, headers=headers)
            got, answer = response.status, await response.json()
        assert (got, answer["error"]) == (status, error), answer
        assert isinstance(answer["message"], str)
        assert answer["message"]
        assert await self.store.all() == before
        assert self.announced == announced
        return dict(answer)


@contextlib.asynccontextmanager
async def dialects_app(api_key: str) -> AsyncIterator[Harness]:
    store = MemoryStore()
    announced: list[str] = []

    async def announce(instance: str) -> None:
        announced.append(instance)

    app = web.Application()
    app[SETTINGS] = Settings.build(authentication={"api_key": api_key})
    app[CONFIG] = ConfigService(store, announce, max_webhooks=3)
    dialects.add_routes(app)
    async with TestClient(TestServer(app)) as client:
        yield Harness(client, store, announced)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with dialects_app(API_KEY) as running:
        yield running
