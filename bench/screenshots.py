"""The console's screenshots in docs/console/, made anew from a running router in Debian's
chromium: the sign-in, live events with one opened, destinations, a dead letter chosen for
replay, one event's attempts after a replay, an instance's settings saved (and live events on a
phone's screen).

    python bench/screenshots.py        (or ./dev screenshots)

The router runs on the RabbitMQ of RABBITMQ_URI (loopback by default) under an exchange of its
own, removed afterwards; its webhook posts to a receiver this script serves on loopback.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from playwright.async_api import Page, async_playwright, expect  # noqa: E402

from bench.common import AMQP_URL, chromium, drop_declared, free_port, router_env, start_router  # noqa: E402

KEY = "screenshot-key"
OUT = ROOT / "docs" / "console"
EVENTS = [
    ("Loja Centro", "messages.upsert", {"key": {"remoteJid": "5511999999999@s.whatsapp.net"}}),
    ("shop-a", "connection.update", {"state": "open"}),
    ("shop-a", "call", {"from": "5511988887777@s.whatsapp.net", "status": "offer"}),
    ("support", "messages.update", {"status": "READ"}),
    ("shop-b", "qrcode.updated", {"qrcode": {"pairingCode": None}}),
    ("Loja Centro", "presence.update", {"presences": {}}),
]


async def receiver(port: int, down: bool = False) -> web.AppRunner:
    """Refuses its first request as final (a dead letter to show), takes the rest; or, when
    ``down``, answers every request 503 (an open breaker to show)."""
    seen = [0]

    async def ok(_: web.Request) -> web.Response:
        seen[0] += 1
        if down:
            return web.Response(status=503, text="maintenance")
        return web.Response(status=400 if seen[0] == 1 else 200, text="no such tenant")

    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def post(session: aiohttp.ClientSession, base: str) -> str:
    last = ""
    for instance, event, data in EVENTS:
        async with session.post(
            f"{base}/events/{instance}",
            json={"event": event, "data": data},
            headers={"apikey": KEY},
        ) as response:
            last = (await response.json())["id"] if event == "call" else last
    return last


async def shoot(page: Page, name: str) -> None:
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    print(f"docs/console/{name}.png")


async def run() -> None:
    executable = chromium("bench/screenshots.py")
    OUT.mkdir(exist_ok=True)
    exchange, port, hook_port = f"docs-console-{uuid.uuid4().hex[:8]}", free_port(), free_port()
    down_port = free_port()
    hooks = await receiver(hook_port)
    down = await receiver(down_port, down=True)
    env = router_env(
        exchange,
        port,
        AUTHENTICATION_API_KEY=KEY,
        WEBSOCKET_ENABLED="true",
        WEBSOCKET_GLOBAL_EVENTS="true",
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL=f"http://127.0.0.1:{hook_port}/hook",
        WEBHOOK_EVENTS_CALL="true",
        ROUTER_HISTORY_FLUSH_SECONDS="0.2",
        ROUTER_STATUS_SECONDS="0.5",
        # A global AMQP queue nobody reads yet, to show one waiting.
        RABBITMQ_ENABLED="true",
        RABBITMQ_GLOBAL_ENABLED="true",
        RABBITMQ_PREFIX_KEY=exchange,
        RABBITMQ_EVENTS_CALL="true",
        WEBHOOK_ENDPOINT_FAILURE_THRESHOLD="1",
    )
    base = f"http://127.0.0.1:{port}"
    router = await start_router(env)
    try:
        async with async_playwright() as playwright, aiohttp.ClientSession() as session:
            # One tenant's receiver is down: its breaker opens on the first failure.
            hook = {"enabled": True, "url": f"http://127.0.0.1:{down_port}/crm", "events": []}
            async with session.post(
                f"{base}/webhook/set/shop-b", json={"webhook": hook}, headers={"apikey": KEY}
            ) as answer:
                assert answer.status == 201, await answer.text()
            browser = await playwright.chromium.launch(executable_path=executable)
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"{base}/ui")
            await shoot(page, "sign-in")
            await page.get_by_label("API key").fill(KEY)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("status")).to_have_text("Following every instance.")
            call = await post(session, base)
            rows = page.locator("#live-rows tr.event")
            await expect(rows).to_have_count(len(EVENTS))
            await page.locator(f'tr[data-id="{call}"]').click()
            await shoot(page, "live-events")
            await page.get_by_role("button", name="Destinations").click()
            await expect(page.locator("#dest-roles")).to_contain_text("webhook")
            await expect(page.locator("#dest-receivers")).to_contain_text("open", timeout=15000)
            await expect(page.locator("#dest-traffic tr")).to_have_count(2)
            await expect(page.locator("#dest-amqp")).to_contain_text(f"{exchange}.call")
            await shoot(page, "destinations")
            await page.get_by_role("button", name="Dead letters", exact=True).click()
            await page.wait_for_timeout(600)
            await page.get_by_role("button", name="Refresh").click()
            await page.get_by_role("button", name="Open webhook", exact=True).click()
            await page.get_by_label(f"Choose {call}").check()
            await shoot(page, "dead-letters")
            await page.get_by_role("button", name="Live events").click()  # the row is open
            await page.get_by_role("button", name="Its delivery attempts").click()
            await page.wait_for_timeout(600)  # the attempt is written within a flush
            await page.get_by_role("button", name="Find").click()
            await expect(page.locator("#event-rows tr")).to_have_count(1)
            await page.get_by_label("Send it again to").select_option("webhook")
            await page.get_by_role("button", name="Replay").click()
            await expect(page.locator("#replay-status")).to_contain_text("done")
            await page.wait_for_timeout(600)
            await page.get_by_role("button", name="Find").click()
            await expect(page.locator("#event-rows tr")).to_have_count(2)
            await shoot(page, "one-event")
            await page.get_by_role("button", name="Settings").click()
            await page.get_by_role("textbox", name="Instance", exact=True).fill("shop-a")
            await page.get_by_role("button", name="Load").click()
            url = f"http://127.0.0.1:{hook_port}/tenant"  # loopback only, as everything here
            await page.get_by_role("textbox", name="URL").fill(url)
            await page.locator("#webhook-events").fill("MESSAGES_UPSERT, CALL")
            await page.locator("#webhook-enabled").check()
            await page.get_by_role("button", name="Save webhook").click()
            await expect(page.locator("#settings-status")).to_contain_text("Saved")
            await shoot(page, "settings")
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.get_by_role("button", name="Live events").click()
            await shoot(page, "live-events-phone")
            await browser.close()
    finally:
        router.terminate()
        await router.wait()
        await hooks.cleanup()
        await down.cleanup()
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await drop_declared(channel, exchange, ("webhook", "websocket"))
            await channel.queue_delete(f"{exchange}.call")


if __name__ == "__main__":
    asyncio.run(run())
