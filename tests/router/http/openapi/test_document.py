"""The API document: built from the routes the application serves, valid OpenAPI 3.1, and the
copy in the repository is the one the code builds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from router.apidoc import every_role, full_document
from router.app import create_app
from router.http.openapi import (
    Operation,
    Reply,
    Undocumented,
    document,
    documented,
    obj,
    refusals,
    string,
)
from router.http.openapi.render import path_of, variable_schema
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app

ROOT = Path(__file__).resolve().parents[4]
KEPT = ROOT / "docs" / "openapi.json"


async def ok(_: web.Request) -> web.Response:
    return web.json_response({})


def test_the_copy_in_the_repository_is_current() -> None:
    assert KEPT.read_text(encoding="utf-8") == full_document(), (
        "docs/openapi.json is stale: run `router openapi > docs/openapi.json`"
    )


def test_router_openapi_prints_the_copy_and_nothing_else() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "router", "openapi"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout == KEPT.read_text(encoding="utf-8")


def test_the_document_is_valid_openapi_3_1() -> None:
    kept = json.loads(KEPT.read_text(encoding="utf-8"))
    validate(kept)
    assert kept["openapi"] == "3.1.0"


def test_every_path_of_every_dialect_and_role_is_described() -> None:
    paths = json.loads(full_document())["paths"]
    for expected in (
        "/events/{instance}",
        "/events/{instance}/batch",
        "/ingest/evolution/{tail}",
        "/{block}/set/{instance}",
        "/instance/create",
        "/api/events/webhook/{instance}",
        "/api/v2/instance/{instance}/webhook/{webhookId}/events",
        "/attempts",
        "/replay",
        "/replay/{replay}",
        "/endpoints/enable",
        "/ws/{instance}",
        "/socket.io/",
        "/openapi.json",
        "/metrics",
    ):
        assert expected in paths, expected
    # aiohttp's HEAD beside every GET is not listed; every other method is.
    assert all("head" not in methods for methods in paths.values())
    assert set(paths["/api/v2/instance/{instance}/webhook"]) == {"get", "post"}


def test_a_route_served_without_a_description_stops_the_document() -> None:
    app = create_app(every_role(), ["ingest"])
    app.router.add_get("/forgotten/{thing}", ok)
    with pytest.raises(Undocumented, match=r"GET /forgotten/\{thing\}"):
        document(app, title="t", version="1")


def test_a_described_route_is_documented_with_its_parameters_and_refusals() -> None:
    app = web.Application()
    operation = Operation(
        "A thing",
        "things",
        {200: Reply("It.", obj({"name": string()}, ["name"]))} | refusals(401, 422),
    )
    documented(app, "GET", "/things/{kind:big|small}/{instance}", ok, operation)
    shown = document(app, title="t", version="1")
    got = shown["paths"]["/things/{kind}/{instance}"]["get"]
    params = {p["name"]: p for p in got["parameters"]}
    assert params["kind"]["schema"] == {"type": "string", "enum": ["big", "small"]}
    assert params["instance"]["schema"] == {"$ref": "#/components/schemas/Instance"}
    assert got["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
    assert got["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["name"]
    assert got["security"] == [{"apikey": []}, {"bearer": []}]
    assert "Instance" in shown["components"]["schemas"]


@pytest.mark.parametrize(
    ("raw", "shown", "variables"),
    [
        ("/events", "/events", {}),
        ("/events/{instance}", "/events/{instance}", {"instance": None}),
        (
            "/{block:a|b}/set/{instance}",
            "/{block}/set/{instance}",
            {"block": "a|b", "instance": None},
        ),
        ("/x{tail:/.*}", "/x{tail}", {"tail": "/.*"}),
        ("/n/{id:[0-9]{2}}", "/n/{id}", {"id": "[0-9]{2}"}),
    ],
)
def test_path_templates_become_documented_paths(
    raw: str, shown: str, variables: dict[str, Any]
) -> None:
    assert path_of(raw) == (shown, variables)


def test_a_regex_that_is_not_a_list_of_words_is_a_plain_string() -> None:
    assert variable_schema("id", "[0-9]{2}", {}) == {"type": "string", "minLength": 1}


async def test_each_process_serves_the_document_of_what_it_runs(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name), ["ingest"]) as client:
        response = await client.get("/openapi.json")  # no key: the contract is public
        assert response.status == 200
        served = await response.json()
    validate(served)
    assert "/events/{instance}" in served["paths"]
    assert "/ws/{instance}" not in served["paths"]  # the websocket role does not run here
    kept = json.loads(KEPT.read_text(encoding="utf-8"))
    assert served["paths"]["/events/{instance}"] == kept["paths"]["/events/{instance}"]
    assert API_KEY not in json.dumps(served)
