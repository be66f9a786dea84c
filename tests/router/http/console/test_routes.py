"""The console over HTTP: its page and assets, the key exchanged for a session cookie, and the
session opening the router's own API, with the anti-forgery token on every change and the
origin checked."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from router.http.console.session import SESSION_COOKIE
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app

HOOK = {"webhook": {"enabled": True, "url": "https://crm.example/hook"}}


async def sign_in(client: TestClient[Any, Any]) -> str:
    answer = await client.post("/ui/session", json={"key": API_KEY})
    assert answer.status == 200
    body = await answer.json()
    assert API_KEY not in str(body)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    return str(body["csrf"])


async def test_the_page_and_its_files_come_from_the_package(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name), ["ingest"]) as client:
        page = await client.get("/ui")
        assert page.status == 200
        assert page.content_type == "text/html"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        text = await page.text()
        assert '<input id="key" name="key" type="password"' in text
        script = await client.get("/ui/static/console.js")
        assert script.status == 200
        assert script.content_type == "text/javascript"
        assert "X-CSRF-Token" in await script.text()
        assert (await client.get("/ui/static/../session.py")).status == 404
        assert (await client.get("/ui/static/nothing.js")).status == 404


async def test_a_wrong_key_signs_nobody_in(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name), ["ingest"]) as client:
        answer = await client.post("/ui/session", json={"key": "wrong"})
        assert (answer.status, (await answer.json())["error"]) == (401, "unauthorized")
        assert "Set-Cookie" not in answer.headers
        assert (await client.post("/ui/session", json=["x"])).status == 422
        assert (await client.post("/ui/session", data=b"{")).status == 400
        assert (await client.get("/ui/session")).status == 401


async def test_a_session_opens_the_api_and_every_change_needs_its_token(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name), ["ingest"]) as client:
        assert (await client.get("/webhook/find/shop")).status == 401  # no key, no session
        csrf = await sign_in(client)
        assert (await (await client.get("/ui/session")).json())["csrf"] == csrf
        # Reading needs the session alone.
        assert (await client.get("/webhook/find/shop")).status == 200
        # A change without the token, or with another, is refused and stores nothing.
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            refused = await client.post("/webhook/set/shop", json=HOOK, headers=headers)
            assert (refused.status, (await refused.json())["error"]) == (403, "csrf")
        assert await (await client.get("/webhook/find/shop")).json() is None
        done = await client.post("/webhook/set/shop", json=HOOK, headers={"X-CSRF-Token": csrf})
        assert done.status == 201
        # A page of another site, carrying the cookie, is refused even for reading.
        other = await client.get("/webhook/find/shop", headers={"Origin": "https://evil.example"})
        assert (other.status, (await other.json())["error"]) == (403, "cross_origin")
        # A key of its own is used as it is, the session left aside.
        wrong = await client.get("/webhook/find/shop", headers={"apikey": "wrong"})
        assert wrong.status == 401


async def test_signing_out_needs_the_token_and_ends_the_session(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name), ["ingest"]) as client:
        csrf = await sign_in(client)
        assert (await client.delete("/ui/session")).status == 403
        out = await client.delete("/ui/session", headers={"X-CSRF-Token": csrf})
        assert out.status == 200
        assert not any(c.key == SESSION_COOKIE and c.value for c in client.session.cookie_jar)
        assert (await client.get("/webhook/find/shop")).status == 401
        assert (await client.get("/ui/session")).status == 401


async def test_a_session_made_with_another_key_opens_nothing(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    settings = router_settings(amqp_url, exchange_name)
    async with running_app(settings, ["ingest"]) as client:
        await sign_in(client)
        cookie = next(c.value for c in client.session.cookie_jar if c.key == SESSION_COOKIE)
    other = router_settings(amqp_url, exchange_name, authentication={"api_key": "another-key"})
    async with running_app(other, ["ingest"]) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
        assert (await client.get("/webhook/find/shop")).status == 401
