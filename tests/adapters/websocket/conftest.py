"""Fixtures of the websocket role's tests: its settings, and instances with tokens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from router.config.settings import Settings
from router.config.store import MemoryStore
from schemas.instance_config import InstanceConfig
from tests.conftest import Cleanup
from tests.support.app import router_settings


@pytest.fixture
def ws_settings(amqp_url: str, exchange_name: str, cleanup: Cleanup) -> Callable[..., Settings]:
    def make(router: Mapping[str, Any] | None = None, **websocket: Any) -> Settings:
        values = {"enabled": True, "global_events": True, "heartbeat_seconds": 30, **websocket}
        return router_settings(amqp_url, exchange_name, websocket=values, router=router or {})

    return make


@pytest.fixture
async def tokens() -> MemoryStore:
    store = MemoryStore()
    await store.put(InstanceConfig(instance="alpha", token="alpha-token"))
    await store.put(InstanceConfig(instance="beta", token="beta-token"))
    return store
