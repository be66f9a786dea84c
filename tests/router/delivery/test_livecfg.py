"""Per-instance configuration across processes: a change made through one replica is applied by
another within a second, survives restarts, and drives what the webhook role delivers."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from router.config.store import PostgresStore
from tests.conftest import Cleanup
from tests.support.process import RouterProcess, clean_env
from tests.support.receiver import Receiver, running_receiver

KEY = {"apikey": "k"}
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for r in running_receiver():
        yield r


@pytest.fixture(params=["sqlite", "postgres"])
async def store_env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"ROUTER_STORE_PATH": str(tmp_path / "config.sqlite3")}
    else:
        yield {"DATABASE_URL": PG_URL}


@pytest.fixture
def instance() -> str:
    return f"shop-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def forget(instance: str) -> AsyncIterator[None]:
    yield
    store = PostgresStore(PG_URL)
    await store.open()
    await store.delete(instance)
    await store.close()


async def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, headers=KEY) as response,
    ):
        return response.status, await response.json()


async def test_a_change_through_one_replica_is_applied_by_another(
    amqp_url: str,
    exchange_name: str,
    cleanup: Cleanup,
    receiver: Receiver,
    store_env: dict[str, str],
    instance: str,
    forget: None,
) -> None:
    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        AUTHENTICATION_API_KEY="k",
        LOG_FORMAT="json",
        **store_env,
    )
    api = RouterProcess(env, "--only", "ingest")
    hooks = RouterProcess(env, "--only", "webhook")
    try:
        await api.start()
        await hooks.start()
        status, _ = await call(
            "POST",
            f"{api.base}/webhook/set/{instance}",
            {
                "webhook": {
                    "enabled": True,
                    "url": f"{receiver.base}/evo",
                    "headers": {"X-Tenant": "t1"},
                    "byEvents": True,
                    "base64": False,
                    "events": ["MESSAGES_UPSERT"],
                }
            },
        )
        assert status in (200, 201)
        await asyncio.sleep(1.0)  # the promise: applied everywhere within a second
        media = {"key": {"id": "m1"}, "message": {"imageMessage": {"url": "u"}, "base64": "AAAA"}}
        status, _ = await call(
            "POST", f"{api.base}/events/{instance}", {"event": "messages.upsert", "data": media}
        )
        assert status == 202
        await call(
            "POST", f"{api.base}/events/{instance}", {"event": "call", "data": {}}
        )  # not chosen
        got = await receiver.next()
        assert got.path == "/evo/messages-upsert"
        assert got.headers["X-Tenant"] == "t1"
        body = orjson.loads(got.body)
        assert body["data"]["message"] == {"imageMessage": {"url": "u"}}  # base64 stripped
        with pytest.raises(TimeoutError):
            await receiver.next(timeout=0.5)

        # Restart the webhook replica: the configuration is read back from the store.
        await hooks.stop()
        hooks = RouterProcess(env, "--only", "webhook")
        await hooks.start()
        status, _ = await call(
            "POST", f"{api.base}/events/{instance}", {"event": "messages.upsert", "data": media}
        )
        assert status == 202
        again = await receiver.next()
        assert again.path == "/evo/messages-upsert"

        status, _ = await call("DELETE", f"{api.base}/instances/{instance}")
        assert status == 200
        await asyncio.sleep(1.0)
        await call(
            "POST", f"{api.base}/events/{instance}", {"event": "messages.upsert", "data": {}}
        )
        with pytest.raises(TimeoutError):
            await receiver.next(timeout=1.0)
    finally:
        await hooks.stop()
        await api.stop()


async def test_stopping_right_after_a_change_lets_it_finish(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, tmp_path: Path, instance: str
) -> None:
    """SIGTERM just after a change is answered: the change being applied (its own announcement
    comes back to the replica that made it) ends before the connection closes, so the stop
    logs no failure and no lost connection."""
    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        AUTHENTICATION_API_KEY="k",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        ROUTER_STORE_PATH=str(tmp_path / "config.sqlite3"),
    )
    for round_ in range(3):
        api = RouterProcess(env, "--only", "ingest")
        await api.start()
        hook = {"enabled": True, "url": f"http://127.0.0.1:9/{round_}", "events": ["CALL"]}
        status, _ = await call("POST", f"{api.base}/webhook/set/{instance}", {"webhook": hook})
        assert status in (200, 201)
        log = await api.stop()
        assert "config.apply_failed" not in log
        assert "broker.lost" not in log
        assert "Closing channel" not in log
