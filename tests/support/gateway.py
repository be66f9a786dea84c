"""The websocket role in one process, and events posted to it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp.test_utils import TestClient

from router.config.settings import Settings
from router.config.store import MemoryStore
from tests.support.app import API_KEY, running_app

Client = TestClient[Any, Any]


def gateway(
    settings: Settings, store: MemoryStore | None = None
) -> AbstractAsyncContextManager[Client]:
    return running_app(settings, ["ingest", "websocket"], store=store or MemoryStore())


async def publish(client: Client, instance: str, event: str, data: Any = None) -> str:
    response = await client.post(
        f"/events/{instance}", json={"event": event, "data": data}, headers={"apikey": API_KEY}
    )
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])
