"""aiohttp's own refusals come in the router's JSON shape: a path that does not exist, a method a
path does not take; the router's own refusals are left as they are."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app


async def test_no_such_path_and_a_wrong_method_are_json(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    before = refusals("not_found"), refusals("method_not_allowed"), refusals("unauthorized")
    async with running_app(router_settings(amqp_url, exchange_name), ["ingest"]) as client:
        missing = await client.get("/nope/there")
        assert missing.status == 404
        assert missing.content_type == "application/json"
        assert await missing.json() == {
            "error": "not_found",
            "message": "nothing here: GET /nope/there",
        }

        wrong = await client.get("/events/inst", headers={"apikey": API_KEY})
        assert wrong.status == 405
        assert wrong.content_type == "application/json"
        body = await wrong.json()
        assert body["error"] == "method_not_allowed"
        assert "POST" in body["message"]
        assert "POST" in wrong.headers["Allow"]

        # The router's own refusal keeps its words.
        refused = await client.post("/events/inst", data=b"{", headers={"apikey": API_KEY})
        assert refused.status == 400
        assert (await refused.json())["error"] == "malformed_json"

        # A configuration call without the key: refused, and counted like the others.
        assert (await client.get("/webhook/find/inst")).status == 401
    after = refusals("not_found"), refusals("method_not_allowed"), refusals("unauthorized")
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


def refusals(reason: str) -> float:
    return REGISTRY.get_sample_value("router_api_refused_total", {"reason": reason}) or 0.0
