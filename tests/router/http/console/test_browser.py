"""The console in a real Chromium (Debian's, driven by Playwright) against a running router:
sign in with the key, watch events posted to ingest appear live, open one, follow one
instance only, and sign out."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import Cleanup
from tests.support.process import RouterProcess, clean_env
from tests.support.receiver import Answer, Receiver, running_receiver

KEY = "console-test-key"
# .ci/run installs Debian's chromium; without it the test fails rather than skips.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM, "the browser tests need Debian's chromium (apt-get install chromium)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for running in running_receiver():
        yield running


@pytest.fixture
async def router(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receiver: Receiver
) -> AsyncIterator[str]:
    cleanup.queue(f"{exchange_name}.websocket")
    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        AUTHENTICATION_API_KEY=KEY,
        LOG_FORMAT="json",
        WEBSOCKET_ENABLED="true",
        WEBSOCKET_GLOBAL_EVENTS="true",
        # Calls only go to the receiver, so every row of the live view is not also a delivery.
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL=f"{receiver.base}/hook",
        WEBHOOK_EVENTS_CALL="true",
        ROUTER_HISTORY_FLUSH_SECONDS="0.2",
        ROUTER_STATUS_SECONDS="0.5",
    )
    process = RouterProcess(env)  # every role the settings switch on, in one process
    await process.start()
    try:
        yield process.base
    finally:
        await process.stop()


async def post(base: str, instance: str, *events: str) -> list[str]:
    batch = [{"event": event, "data": {"n": n}} for n, event in enumerate(events)]
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/events/{instance}/batch", json=batch, headers={"apikey": KEY}) as r,
    ):
        assert r.status == 202, await r.text()
        ids: list[str] = (await r.json())["ids"]
        return ids


async def signed_in(browser: Browser, base: str) -> Page:
    page = await browser.new_page()
    await page.goto(f"{base}/ui")
    await page.get_by_label("API key").fill(KEY)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Live events")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("Following every instance.")
    return page


async def test_a_wrong_key_is_told_and_signs_nobody_in(browser: Browser, router: str) -> None:
    page = await browser.new_page()
    await page.goto(f"{router}/ui")
    await page.get_by_label("API key").fill("wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("wrong API key")
    await expect(page.get_by_role("heading", name="Live events")).to_be_hidden()


async def test_events_posted_to_ingest_appear_live_and_open_to_their_envelope(
    browser: Browser, router: str
) -> None:
    page = await signed_in(browser, router)
    ids = await post(router, "shop-a", "messages.upsert", "call", "connection.update")
    rows = page.locator("#live-rows tr.event")
    await expect(rows).to_have_count(3)
    # Newest first.
    await expect(rows.nth(0)).to_contain_text("connection.update")
    await expect(rows.nth(2)).to_contain_text("messages.upsert")
    await expect(rows.nth(2)).to_contain_text(ids[0])
    # Opened with the keyboard: the envelope, as delivered.
    await rows.nth(2).focus()
    await page.keyboard.press("Enter")
    detail = page.locator("#live-rows tr.detail pre")
    await expect(detail).to_contain_text(f'"id": "{ids[0]}"')
    await expect(detail).to_contain_text('"instance": "shop-a"')
    await expect(rows.nth(2)).to_have_attribute("aria-expanded", "true")
    # The page never held the key: the session cookie is HttpOnly.
    assert KEY not in await page.content()
    assert await page.evaluate("document.cookie") == ""


async def test_following_one_instance_shows_its_events_only(browser: Browser, router: str) -> None:
    page = await signed_in(browser, router)
    await page.get_by_role("textbox", name="Instance (empty: every instance)").fill("Loja Centro")
    await page.get_by_role("button", name="Follow").click()
    await expect(page.get_by_role("status")).to_have_text("Following instance “Loja Centro”.")
    await post(router, "shop-a", "messages.upsert")
    mine = await post(router, "Loja Centro", "call")
    rows = page.locator("#live-rows tr.event")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(mine[0])


async def test_a_refused_filter_is_said_and_not_retried(browser: Browser, router: str) -> None:
    page = await signed_in(browser, router)
    await page.get_by_role("textbox", name="Events").fill("messages.upsret")
    await page.get_by_role("button", name="Follow").click()
    await expect(page.get_by_role("status")).to_contain_text("Refused: unknown event")


async def test_one_events_attempts_and_its_replay_to_the_webhook(
    browser: Browser, router: str, receiver: Receiver
) -> None:
    page = await signed_in(browser, router)
    (call,) = await post(router, "shop-a", "call")
    row = page.locator("#live-rows tr.event").first
    await expect(row).to_contain_text(call)
    await row.click()
    await page.get_by_role("button", name="Its delivery attempts").click()
    await expect(page.get_by_role("heading", name="One event")).to_be_visible()
    await expect(page.get_by_label("Event id")).to_have_value(call)
    # The delivery is recorded within a flush: looked up again until it is.
    attempts = page.locator("#event-rows tr")
    for _ in range(20):
        if await attempts.count():
            break
        await page.get_by_role("button", name="Find").click()
        await page.wait_for_timeout(250)
    await expect(attempts).to_have_count(1)
    await expect(attempts.first).to_contain_text("delivered")
    await expect(attempts.first).to_contain_text(f"{receiver.base}/hook")
    await page.get_by_label("Send it again to").select_option("webhook")
    await page.get_by_role("button", name="Replay").click()
    await expect(page.locator("#replay-status")).to_contain_text("done, sent 1 of 1")
    async with asyncio.timeout(10):  # sent again through the work queue: on its way
        while len(receiver.requests) < 2:
            await asyncio.sleep(0.05)
    ids = [orjson.loads(r.body)["id"] for r in receiver.requests]
    assert ids == [call, call]  # the same event, under its own id


async def test_a_dead_letter_is_found_and_replayed_from_the_page(
    browser: Browser, router: str, receiver: Receiver
) -> None:
    # The receiver refuses the first post as final (400): the event is dead-lettered at once.
    receiver.script = lambda _request, n: Answer(status=400 if n == 0 else 200)
    page = await signed_in(browser, router)
    (call,) = await post(router, "shop-a", "call")
    await page.get_by_role("button", name="Dead letters", exact=True).click()
    await expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()
    opened = page.get_by_role("button", name="Open webhook", exact=True)
    for _ in range(40):  # dead-lettered within moments of the post
        if await opened.count():
            break
        await page.get_by_role("button", name="Refresh").click()
        await page.wait_for_timeout(250)
    await opened.click()
    await expect(page.locator("#dead-status")).to_have_text("1 letter.")
    letter = page.locator("#dead-rows tr")
    await expect(letter).to_have_count(1)
    await expect(letter).to_contain_text(call)
    await expect(letter).to_contain_text("400")
    await page.get_by_label(f"Choose {call}").check()
    await page.get_by_role("button", name="Replay 1 chosen").click()
    await expect(page.locator("#dead-status")).to_contain_text("done, 1 of 1 sent back")
    async with asyncio.timeout(10):
        while len(receiver.requests) < 2:
            await asyncio.sleep(0.05)
    assert [orjson.loads(r.body)["id"] for r in receiver.requests] == [call, call]
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.get_by_role("button", name="Open webhook", exact=True)).to_have_count(0)


async def test_a_stuck_destination_is_found_from_what_needs_attention_and_replayed(
    browser: Browser, router: str, receiver: Receiver
) -> None:
    # The receiver refuses the first three posts as final: three dead letters, 0% delivered.
    receiver.script = lambda _request, n: Answer(status=400 if n < 3 else 200)
    calls = await post(router, "shop-s", "call", "call", "call")
    page = await signed_in(browser, router)
    await page.get_by_role("button", name="Destinations").click()
    attention = page.locator("#dest-attention")
    # Refreshed by itself until all three are dead-lettered and their attempts written.
    await expect(attention).to_contain_text("3 dead letters for webhook.", timeout=15000)
    await expect(attention).to_contain_text("0.0% delivered in the last minutes", timeout=15000)
    traffic = page.locator("#dest-traffic tr")
    await expect(traffic).to_contain_text("0 / 3 (3 dead)")
    await expect(traffic.get_by_role("img").first).to_have_attribute(
        "aria-label", re.compile(r"failed per minute (0, )+3$")
    )
    await expect(page.locator("#dest-receivers tr")).to_contain_text("closed")
    await attention.get_by_role("button", name="Dead letters of webhook").click()
    await expect(page.locator("#dead-status")).to_have_text("3 letters.")
    await page.get_by_role("button", name="Replay all").click()
    await expect(page.locator("#dead-status")).to_contain_text("done, 3 of 3 sent back")
    async with asyncio.timeout(10):
        while len(receiver.requests) < 6:
            await asyncio.sleep(0.05)
    again = [orjson.loads(r.body)["id"] for r in receiver.requests[3:]]
    assert sorted(again) == sorted(calls)
    await page.get_by_role("button", name="Destinations").click()
    await expect(attention).not_to_contain_text("dead letters", timeout=15000)


async def test_a_webhook_set_from_the_page_takes_effect_and_a_refusal_is_shown(
    browser: Browser, router: str, receiver: Receiver
) -> None:
    page = await signed_in(browser, router)
    await page.get_by_role("button", name="Settings").click()
    await page.get_by_role("textbox", name="Instance", exact=True).fill("shop-s")
    await page.get_by_role("button", name="Load").click()
    status = page.locator("#settings-status")
    await expect(status).to_contain_text("has no webhook yet")
    await page.get_by_role("textbox", name="URL").fill(f"{receiver.base}/tenant")
    await page.locator("#webhook-events").fill("MESAGES_UPSERT")
    await page.locator("#webhook-enabled").check()
    await page.get_by_role("button", name="Save webhook").click()
    # The API's own refusal, word for word, with its suggestion; nothing stored.
    await expect(status).to_contain_text("Refused: webhook.events: unknown event 'MESAGES_UPSERT'")
    await expect(status).to_contain_text("Did you mean: messages.upsert")
    await page.locator("#webhook-events").fill("CALL")
    await page.get_by_role("button", name="Save webhook").click()
    await expect(status).to_have_text("Saved the webhook of “shop-s”.")
    async with asyncio.timeout(15):  # every replica applies a change within a second
        while not any(r.path == "/tenant" for r in receiver.requests):
            await post(router, "shop-s", "call")
            await asyncio.sleep(0.5)
    # Loaded again: what was stored.
    await page.get_by_role("button", name="Load").click()
    await expect(status).to_have_text("Loaded “shop-s”.")
    await expect(page.get_by_role("textbox", name="URL")).to_have_value(f"{receiver.base}/tenant")
    await expect(page.locator("#webhook-events")).to_have_value("CALL")


async def test_a_gone_webhook_is_seen_disabled_and_enabled_again_with_what_it_missed(
    browser: Browser, router: str, receiver: Receiver
) -> None:
    back = asyncio.Event()
    receiver.script = lambda request, _n: Answer(
        status=410 if request.path == "/gone" and not back.is_set() else 200
    )
    async with aiohttp.ClientSession() as session:
        hook = {"webhook": {"enabled": True, "url": f"{receiver.base}/gone", "events": ["CALL"]}}
        async with session.post(
            f"{router}/webhook/set/shop-g", json=hook, headers={"apikey": KEY}
        ) as answer:
            assert answer.status == 201, await answer.text()
    page = await signed_in(browser, router)
    await page.get_by_role("button", name="Destinations").click()
    await expect(page.locator("#dest-webhooks tr")).to_contain_text("delivering")
    async with asyncio.timeout(15):  # applied within a second, then gone at the first post
        while not any(r.path == "/gone" for r in receiver.requests):
            await post(router, "shop-g", "call")
            await asyncio.sleep(0.5)
    # Refreshed by itself: no reload, no click.
    row = page.locator("#dest-webhooks tr")
    await expect(row).to_contain_text("disabled at", timeout=15000)
    await expect(row).to_contain_text("410")
    back.set()
    ids = [orjson.loads(r.body)["id"] for r in receiver.requests if r.path == "/gone"]
    refused, seen = ids[0], len(ids)
    attention = page.locator("#dest-attention")
    await expect(attention).to_contain_text("Webhook shop-g default is disabled")
    await attention.get_by_role("button", name="Enable shop-g default").click()
    await expect(page.locator("#dest-status")).to_contain_text("Enabled shop-g default; sending")
    await expect(row).to_contain_text("delivering")
    async with asyncio.timeout(15):  # what it missed, sent again from the archive
        while refused not in ids[seen:]:
            await asyncio.sleep(0.1)
            ids = [orjson.loads(r.body)["id"] for r in receiver.requests if r.path == "/gone"]


async def test_signing_out_ends_the_session(browser: Browser, router: str) -> None:
    page = await signed_in(browser, router)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("API key")).to_be_visible()
    async with aiohttp.ClientSession() as session:
        cookies = await page.context.cookies()
        assert not [c for c in cookies if c["name"] == "router_session" and c["value"]]
        async with session.get(f"{router}/ui/session") as answer:
            assert answer.status == 401


async def pusher_found(base: str, instance: str) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/pusher/find/{instance}", headers={"apikey": KEY}) as answer,
    ):
        assert answer.status == 200, await answer.text()
        found: dict[str, object] = await answer.json()
        return found


async def test_pusher_set_from_the_page_keeps_its_secret_and_a_refusal_is_shown(
    browser: Browser, router: str
) -> None:
    typed = "pusher-secret-typed"
    page = await signed_in(browser, router)
    await page.get_by_role("button", name="Settings").click()
    await page.get_by_role("textbox", name="Instance", exact=True).fill("shop-p")
    await page.get_by_role("button", name="Load").click()
    status = page.locator("#settings-status")
    await expect(status).to_contain_text("has no webhook yet")
    pusher = page.get_by_role("group", name="pusher", exact=True)
    secret = pusher.get_by_label("Secret", exact=True)
    await expect(secret).to_have_attribute("type", "password")
    await expect(secret).to_have_attribute("autocomplete", "off")
    await pusher.get_by_role("checkbox", name="Enabled", exact=True).check()
    await pusher.get_by_role("textbox", name="App id", exact=True).fill("app-1")
    await pusher.get_by_role("textbox", name="Key", exact=True).fill("key-1")
    await secret.fill(typed)
    await pusher.get_by_role("textbox", name="Cluster", exact=True).fill("mt1")
    await pusher.get_by_role("button", name="Save pusher", exact=True).click()
    await expect(status).to_have_text("Saved the pusher of “shop-p”.")
    found = await pusher_found(router, "shop-p")
    assert found["enabled"] is True
    assert (found["appId"], found["key"], found["cluster"]) == ("app-1", "key-1", "mt1")
    assert found["secret"] == "********"  # masked, never the secret itself
    # Loaded again: the field holds the API's mask, never the typed secret.
    await page.get_by_role("button", name="Load").click()
    await expect(secret).to_have_value("********")
    await expect(pusher.get_by_role("textbox", name="App id", exact=True)).to_have_value("app-1")
    assert typed not in await page.content()
    # Saved again without touching the secret: it is kept.
    await status.evaluate("(node) => { node.textContent = ''; }")
    await pusher.get_by_role("button", name="Save pusher", exact=True).click()
    await expect(status).to_have_text("Saved the pusher of “shop-p”.")
    found = await pusher_found(router, "shop-p")
    assert (found["enabled"], found["secret"], found["appId"]) == (True, "********", "app-1")
    # Enabled without an app id: the API's refusal, word for word; nothing stored.
    await pusher.get_by_role("textbox", name="App id", exact=True).fill("")
    await pusher.get_by_role("button", name="Save pusher", exact=True).click()
    await expect(status).to_have_text("Refused: pusher.appId is required when pusher is enabled")
    assert (await pusher_found(router, "shop-p"))["appId"] == "app-1"
