"""The console under a stream: ``--rate`` events a second (500) for ``--seconds`` into a
Chromium page following every instance, beside a raw aiohttp WebSocket client reading the same
stream in the same run.

    python bench/console.py [--rate 500] [--seconds 20]

Printed: the events the page took against those the raw client took, the rows on the page
(capped at 500), the page's JavaScript heap before and after, the longest gap between two
animation frames and the long tasks (over 50 ms) while the stream ran, and the page's load time
beside that of a bare JSON answer (/healthz) in the same browser.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import aiohttp  # noqa: E402
from playwright.async_api import Page, async_playwright  # noqa: E402

from bench.common import AMQP_URL, chromium, drop_declared, free_port, router_env, start_router  # noqa: E402

KEY = "bench-key"
BATCH = 50
# Records the longest gap between animation frames and every long task, from the page's side.
WATCH = """() => {
  window.bench = { maxGap: 0, longTasks: 0, last: performance.now() };
  const frame = (now) => {
    window.bench.maxGap = Math.max(window.bench.maxGap, now - window.bench.last);
    window.bench.last = now;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  new PerformanceObserver((list) => { window.bench.longTasks += list.getEntries().length; })
    .observe({ type: "longtask", buffered: false });
}"""


async def load_ms(page: Page, url: str) -> float:
    await page.goto(url)
    await page.wait_for_load_state("load")
    entry = await page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.loadEventEnd - n.startTime; }"
    )
    return float(entry)


async def heap(page: Page) -> float:
    return float(await page.evaluate("() => performance.memory.usedJSHeapSize")) / 2**20


async def raw_reader(session: aiohttp.ClientSession, url: str, counted: list[int]) -> None:
    async with session.ws_connect(url) as ws:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                counted[0] += 1


async def stream(session: aiohttp.ClientSession, base: str, rate: int, seconds: float) -> int:
    """``rate`` events a second through ingest's batch path, in batches every 1/(rate/BATCH) s."""
    sent, period, started = 0, BATCH / rate, time.monotonic()
    while time.monotonic() - started < seconds:
        batch = [{"event": "messages.upsert", "data": {"n": sent + i}} for i in range(BATCH)]
        async with session.post(
            f"{base}/events/bench-{sent % 7}/batch", json=batch, headers={"apikey": KEY}
        ) as response:
            assert response.status == 202, await response.text()
        sent += BATCH
        await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic() - period / 10))
    return sent


async def run(rate: int, seconds: float) -> None:
    executable = chromium("bench/console.py")
    exchange, port = f"bench-console-{uuid.uuid4().hex[:8]}", free_port()
    env = router_env(
        exchange,
        port,
        AUTHENTICATION_API_KEY=KEY,
        WEBSOCKET_ENABLED="true",
        WEBSOCKET_GLOBAL_EVENTS="true",
    )
    base = f"http://127.0.0.1:{port}"
    router = await start_router(env, "ingest", "websocket")
    try:
        async with async_playwright() as playwright, aiohttp.ClientSession() as session:
            browser = await playwright.chromium.launch(executable_path=executable)
            page = await browser.new_page()
            bare = await load_ms(page, f"{base}/healthz")
            console = await load_ms(page, f"{base}/ui")
            await page.get_by_label("API key").fill(KEY)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_text("Following every instance.").wait_for()
            heap_before = await heap(page)
            await page.evaluate(WATCH)
            counted = [0]
            reader = asyncio.create_task(raw_reader(session, f"{base}/ws?token={KEY}", counted))
            await asyncio.sleep(0.5)
            sent = await stream(session, base, rate, seconds)
            await asyncio.sleep(2)  # what is on its way arrives
            reader.cancel()
            took = await page.evaluate("() => live.received")
            rows = await page.locator("#live-rows tr.event").count()
            watched = await page.evaluate("() => window.bench")
            heap_after = await heap(page)
            await browser.close()
    finally:
        router.terminate()
        await router.wait()
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            await drop_declared(await connection.channel(), exchange, ("webhook", "websocket"))
    print(f"sent            {sent} events in {seconds:g} s ({rate}/s)")
    print(f"raw client      {counted[0]}")
    print(f"console page    {took}  ({took / max(counted[0], 1):.3f} of the raw client)")
    print(f"rows shown      {rows}")
    print(f"JS heap         {heap_before:.1f} MiB before, {heap_after:.1f} MiB after")
    print(f"longest frame   {watched['maxGap']:.0f} ms; long tasks: {watched['longTasks']}")
    print(f"load            /ui {console:.0f} ms, /healthz {bare:.0f} ms ({console / bare:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=500, help="events a second")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
