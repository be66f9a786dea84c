"""``GET /attempts`` on a loopback server: who may read, the answer's shape, pages that follow
each other with cursors on SQLite and PostgreSQL, and a clear 400 for every bad parameter and
every cursor the router did not issue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from router.config.configsvc import ConfigService
from router.config.settings import Settings
from router.config.store import AttemptLog, ConfigStore, MemoryAttemptLog, MemoryStore
from router.config.store.attempts import AttemptPage, AttemptQuery
from router.http import attempts
from router.http.appkeys import CONFIG, SETTINGS
from router.http.errors import json_errors
from schemas.instance_config import InstanceConfig
from tests.support.attempts import attempt
from tests.support.databases import opened_store

KEY = "k-123"
AUTH = {"apikey": KEY}
RECORD = attempt(5, millis=678, duration_ms=3.2)


def at(minute: int, second: int = 0) -> str:
    return f"2026-01-02T03:{minute:02d}:{second:02d}.000Z"


async def nothing(_: str) -> None:
    return None


@pytest.fixture
async def config() -> MemoryStore:
    store = MemoryStore()
    await store.put(InstanceConfig(instance="shop", token="shop-token"))
    return store


async def serve(log: AttemptLog | None, config: ConfigStore) -> TestClient[Any, Any]:
    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = Settings.build(authentication={"api_key": KEY})
    app[CONFIG] = ConfigService(config, nothing)
    attempts.add_routes(app, log)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def log() -> MemoryAttemptLog:
    log = MemoryAttemptLog()
    await log.add(
        [
            RECORD,
            replace(RECORD, instance="other", at=at(5), outcome="dead", status=404),
            replace(RECORD, attempt=2, at=at(6), label="crm", response=None),
        ]
    )
    return log


@pytest.fixture
async def client(log: MemoryAttemptLog, config: MemoryStore) -> AsyncIterator[TestClient[Any, Any]]:
    served = await serve(log, config)
    yield served
    await served.close()


async def get(
    client: TestClient[Any, Any], params: Mapping[str, str] | str = "", **headers: str
) -> tuple[int, Any]:
    response = await client.get("/attempts", params=params, headers=headers or AUTH)
    return response.status, await response.json()


def refused_count(reason: str) -> float:
    return REGISTRY.get_sample_value("router_api_refused_total", {"reason": reason}) or 0.0


# --- who may read ---------------------------------------------------------------------------


async def test_the_key_is_required(client: TestClient[Any, Any]) -> None:
    status, body = await get(client, {}, apikey="wrong")
    assert (status, body["error"]) == (401, "unauthorized")
    assert (await get(client, {}, Authorization=f"Bearer {KEY}"))[0] == 200


async def test_an_instance_token_opens_that_instance_alone(client: TestClient[Any, Any]) -> None:
    status, body = await get(client, {"instance": "shop"}, apikey="shop-token")
    assert status == 200
    assert {a["instance"] for a in body["attempts"]} == {"shop"}
    assert (await get(client, {}, apikey="shop-token"))[0] == 401
    assert (await get(client, {"instance": "other"}, apikey="shop-token"))[0] == 401
    # A name no instance can have is no instance whose token could open it (it was a 500).
    status, body = await get(client, {"instance": "bad\x0fname"}, apikey="shop-token")
    assert (status, body["error"]) == (401, "unauthorized")


# --- answers --------------------------------------------------------------------------------


async def test_the_answer_lists_whole_records_newest_first(client: TestClient[Any, Any]) -> None:
    status, body = await get(client)
    assert status == 200
    assert body["next"] is None
    assert [a["at"] for a in body["attempts"]] == [at(6), at(5), RECORD.at]
    assert body["attempts"][2] == {
        "event_id": RECORD.event_id,
        "instance": "shop",
        "event": "messages.upsert",
        "adapter": "webhook",
        "destination": "https://crm.example/hook",
        "label": "global",
        "attempt": 1,
        "outcome": "delivered",
        "status": 200,
        "duration_ms": 3.2,
        "error": None,
        "response": "ok",
        "at": RECORD.at,
    }


@pytest.mark.parametrize(
    ("params", "attempts_of"),
    [
        ({"outcome": "dead"}, [at(5)]),
        ({"label": "crm"}, [at(6)]),
        ({"instance": "shop", "adapter": "webhook"}, [at(6), RECORD.at]),
        ({"destination": "https://crm.example/hook", "instance": "other"}, [at(5)]),
        ({"event_id": "0193b0c2-0000-7000-8000-000000000000"}, []),
        ({"since": "2026-01-02T03:05:00Z", "until": "2026-01-02T03:05:59.999Z"}, [at(5)]),
        ({"since": "2026-01-02T04:05:00+01:00"}, [at(6), at(5)]),  # an offset, sent as %2B
        ({"until": "2026-01-02T03:04:05.678"}, [RECORD.at]),  # no offset: UTC, inclusive
        ({"since": "2026-01-02", "until": "2026-01-03"}, [at(6), at(5), RECORD.at]),
        ({"instance": "", "limit": "2"}, [at(6), at(5)]),  # empty: not given
    ],
)
async def test_filters(
    client: TestClient[Any, Any], params: dict[str, str], attempts_of: list[str]
) -> None:
    status, body = await get(client, params)
    assert status == 200, body
    assert [a["at"] for a in body["attempts"]] == attempts_of


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConfigStore]:
    async with opened_store(request.param, tmp_path) as opened:
        yield opened


async def test_pages_follow_each_other_with_cursors(
    database: ConfigStore, config: MemoryStore
) -> None:
    records = [
        replace(RECORD, attempt=n, at=at(n // 7, n % 7), instance="shop" if n % 3 else "x")
        for n in range(130)
    ]
    await database.attempts.add(records)
    client = await serve(database.attempts, config)
    try:
        seen: list[int] = []
        params = {"instance": "shop"}
        sizes = []
        while True:
            status, body = await get(client, params)
            assert status == 200, body
            sizes.append(len(body["attempts"]))
            seen.extend(a["attempt"] for a in body["attempts"])
            if body["next"] is None:
                break
            params = {"instance": "shop", "cursor": body["next"]}
        status, body = await get(client, {"limit": "500"})
        assert len(body["attempts"]) == 130
        assert body["next"] is None
    finally:
        await client.close()
    assert sizes == [50, 36]  # the default limit, then the rest
    assert seen == [n for n in reversed(range(130)) if n % 3]


async def test_a_limit_gives_the_page_size(client: TestClient[Any, Any]) -> None:
    _, body = await get(client, {"limit": "1"})
    assert [a["at"] for a in body["attempts"]] == [at(6)]
    _, body = await get(client, {"limit": "1", "cursor": body["next"]})
    assert [a["at"] for a in body["attempts"]] == [at(5)]
    assert body["next"] is not None


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"since": "yesterday"}, ["since", "ISO-8601"]),
        ({"until": "2026-13-01T00:00:00Z"}, ["until", "ISO-8601"]),
        ("since=2026-01-02T04:05:00+01:00", ["%2B"]),  # an unencoded + reads as a space
        ({"since": "2026-01-02T03:05:00Z", "until": "2026-01-02T03:04:00Z"}, ["before since"]),
        ({"outcome": "ok"}, ["outcome", "delivered, retry, dead, skipped"]),
        ({"limit": "0"}, ["limit", "1 to 500"]),
        ({"limit": "501"}, ["limit"]),
        ({"limit": "-1"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"limit": "²"}, ["limit"]),
        ({"instanse": "shop"}, ["unknown query parameter: instanse", "accepted"]),
        ("outcome=dead&outcome=retry", ["outcome is given 2 times"]),
    ],
)
async def test_bad_parameters_are_refused_with_400(
    client: TestClient[Any, Any], params: dict[str, str] | str, words: list[str]
) -> None:
    before = refused_count("bad_query")
    status, body = await get(client, params)
    assert (status, body["error"]) == (400, "bad_query"), body
    for word in words:
        assert word in body["message"]
    assert refused_count("bad_query") - before == 1


async def test_a_cursor_not_issued_is_refused_with_400(client: TestClient[Any, Any]) -> None:
    _, first = await get(client, {"limit": "1", "instance": "shop"})
    issued = first["next"]
    body_part, mac = issued.split(".")
    forged = [
        "made-up",
        f"{body_part}.{mac[:-2]}AA",
        f"{body_part[:-2]}AA.{mac}",
    ]
    before = refused_count("bad_cursor")
    for cursor in forged:
        status, body = await get(client, {"instance": "shop", "cursor": cursor})
        assert (status, body["error"]) == (400, "bad_cursor"), cursor
        assert "not issued" in body["message"]
    # Issued, but for another query.
    status, body = await get(client, {"instance": "other", "cursor": issued})
    assert (status, body["error"]) == (400, "bad_cursor")
    assert refused_count("bad_cursor") - before == 4
    assert (await get(client, {"instance": "shop", "cursor": issued}))[0] == 200


async def test_a_cursor_of_another_key_is_refused(
    log: MemoryAttemptLog, config: MemoryStore
) -> None:
    client = await serve(log, config)
    try:
        _, first = await get(client, {"limit": "1"})
    finally:
        await client.close()
    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = Settings.build(authentication={"api_key": "another"})
    attempts.add_routes(app, log)
    other: TestClient[Any, Any] = TestClient(TestServer(app))
    await other.start_server()
    try:
        response = await other.get(
            "/attempts", params={"cursor": first["next"]}, headers={"apikey": "another"}
        )
        assert response.status == 400
        assert (await response.json())["error"] == "bad_cursor"
    finally:
        await other.close()


async def test_with_the_history_off_the_route_says_so(config: MemoryStore) -> None:
    client = await serve(None, config)
    try:
        assert (await get(client, {}, apikey="wrong"))[0] == 401
        status, body = await get(client)
    finally:
        await client.close()
    assert (status, body["error"]) == (404, "not_found")
    assert "ROUTER_HISTORY_ENABLED" in body["message"]


class BrokenLog(MemoryAttemptLog):
    async def find(self, query: AttemptQuery) -> AttemptPage:
        raise ConnectionRefusedError("database down")


async def test_a_store_that_fails_answers_503(config: MemoryStore) -> None:
    client = await serve(BrokenLog(), config)
    try:
        response = await client.get("/attempts", headers=AUTH)
        body = await response.json()
    finally:
        await client.close()
    assert (response.status, body["error"]) == (503, "store_unavailable")
    assert "database down" in body["message"]
    assert response.headers["Retry-After"]
