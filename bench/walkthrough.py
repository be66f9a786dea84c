"""A stuck destination found and replayed from the console, timed: the issue's "a new operator
finds a stuck destination and replays its dead letters from the page in under a minute", played
by a script in Debian's chromium against a running router with its default refresh settings.

    python bench/walkthrough.py [--runs 3] [--events 50]

Each run starts a router of its own (every role the settings switch on, in one process) on a
fresh exchange, with the global webhook posting ``call`` events to a receiver served here that
refuses every request as final (400, "no such tenant"), so each event is dead-lettered. Once all
of them are, the receiver is fixed and the operator starts: open ``/ui``, sign in with the key,
open Destinations, follow the "Needs attention" list's button to the webhook's dead letters, and
replay them all. Printed per run: the operator's actions (fills and clicks), the seconds until
the stuck destination is on screen, the seconds until the replay is done (and of those, from
"Replay all" to done), the events the receiver got again, and those lost. The script exits nonzero when any event is lost or a dead
letter is left behind.

The router runs on the RabbitMQ of RABBITMQ_URI (loopback by default); everything it declared is
removed after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from playwright.async_api import Browser, Locator, Page, async_playwright, expect  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import AMQP_URL, chromium, drop_declared, free_port, router_env, start_router  # noqa: E402

KEY = "walkthrough-key"
INSTANCES = ("shop-a", "shop-b", "shop-c", "shop-d", "shop-e")
ROLES = ("webhook",)
# Settings that, left in this process's environment, would make the router refresh faster than
# it does by default; the walkthrough measures the defaults.
NOT_DEFAULT = ("ROUTER_STATUS_SECONDS", "ROUTER_HISTORY_FLUSH_SECONDS")
# Bounds: the setting up of a run, the operator's whole walkthrough, and each wait.
SETUP_SECONDS = 60
OPERATOR_SECONDS = 120
WAIT_MS = 60_000


@dataclass
class Receiver:
    """Refuses every request as final until ``fixed`` is set, then takes them; remembers the
    event ids it took."""

    fixed: asyncio.Event = field(default_factory=asyncio.Event)
    refused: int = 0
    taken: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not self.fixed.is_set():
            self.refused += 1
            return web.Response(status=400, text="no such tenant")
        self.taken.append(str(body.get("id")))
        return web.Response(status=200, text="ok")

    async def serve(self, port: int) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner


@dataclass
class Operator:
    """The page, with every fill and click counted."""

    page: Page
    actions: int = 0

    async def fill(self, target: Locator, value: str) -> None:
        await target.fill(value)
        self.actions += 1

    async def click(self, target: Locator) -> None:
        await target.click()
        self.actions += 1


@dataclass
class Outcome:
    actions: int
    seconds_to_see: float
    seconds_to_replayed: float
    seconds_replaying: float
    first_line: str
    replayed: int
    lost: int
    left_dead: int | None


async def post_events(session: aiohttp.ClientSession, base: str, n: int) -> list[str]:
    async def one(i: int) -> str:
        instance = INSTANCES[i % len(INSTANCES)]
        body = {"event": "call", "data": {"from": f"55119{i:08d}@s.whatsapp.net", "n": i}}
        async with session.post(
            f"{base}/events/{instance}", json=body, headers={"apikey": KEY}
        ) as answer:
            assert answer.status == 202, await answer.text()
            return str((await answer.json())["id"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def webhook_dead(session: aiohttp.ClientSession, base: str) -> int | None:
    async with session.get(f"{base}/dlq", headers={"apikey": KEY}) as answer:
        assert answer.status == 200, await answer.text()
        queues = (await answer.json())["queues"]
    found = [q["messages"] for q in queues if q["role"] == "webhook"]
    return int(found[0]) if found and found[0] is not None else None


async def wait_dead(session: aiohttp.ClientSession, base: str, n: int, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while await webhook_dead(session, base) != n:
            await asyncio.sleep(0.2)


async def walk(browser: Browser, base: str, n: int) -> tuple[Operator, float, float, float, str]:
    """The operator's part, from opening the page to the replay done: the actions, the seconds
    until the stuck destination is on screen, until the replay is done, and from "Replay all"
    to done, and the first line of "Needs attention" as the page showed it."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        operator = Operator(page)
        started = time.perf_counter()
        await page.goto(f"{base}/ui")
        await operator.fill(page.get_by_label("API key"), KEY)
        await operator.click(page.get_by_role("button", name="Sign in"))
        await operator.click(page.get_by_role("button", name="Destinations"))
        attention = page.locator("#dest-attention")
        await expect(attention).to_contain_text(f"{n} dead letters for webhook.", timeout=WAIT_MS)
        seen = time.perf_counter() - started
        # The line's own text, without its button's.
        first_line = str(
            await attention.locator("li").first.evaluate("li => li.firstChild.textContent")
        )
        await operator.click(attention.get_by_role("button", name="Dead letters of webhook"))
        await expect(page.locator("#dead-status")).to_have_text(f"{n} letters.", timeout=WAIT_MS)
        await operator.click(page.get_by_role("button", name="Replay all"))
        asked = time.perf_counter()
        await expect(page.locator("#dead-status")).to_contain_text(
            f"done, {n} of {n} sent back", timeout=WAIT_MS
        )
        done = time.perf_counter()
        return operator, seen, done - started, done - asked, first_line
    finally:
        await context.close()


async def one_run(browser: Browser, n: int) -> Outcome:
    exchange, port, hook_port = (
        f"bench-walkthrough-{uuid.uuid4().hex[:8]}",
        free_port(),
        free_port(),
    )
    receiver = Receiver()
    hooks = await receiver.serve(hook_port)
    store = tempfile.TemporaryDirectory(prefix="bench-walkthrough-")
    env = router_env(
        exchange,
        port,
        AUTHENTICATION_API_KEY=KEY,
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL=f"http://127.0.0.1:{hook_port}/hook",
        WEBHOOK_EVENTS_CALL="true",
    )
    env["ROUTER_STORE_PATH"] = str(Path(store.name) / "router.sqlite3")  # no earlier run's
    for name in NOT_DEFAULT:
        env.pop(name, None)
    base = f"http://127.0.0.1:{port}"
    router = None
    try:
        router = await start_router(env)
        async with aiohttp.ClientSession() as session:
            ids = await post_events(session, base, n)
            await wait_dead(session, base, n, SETUP_SECONDS)
            receiver.fixed.set()
            async with asyncio.timeout(OPERATOR_SECONDS):
                operator, seen, replayed, replay, first_line = await walk(browser, base, n)
            # Every event at the receiver again, then nothing left dead.
            wanted = set(ids)
            try:
                async with asyncio.timeout(SETUP_SECONDS):
                    while not wanted <= set(receiver.taken):
                        await asyncio.sleep(0.1)
            except TimeoutError:
                pass
            left: int | None = None
            try:
                async with asyncio.timeout(SETUP_SECONDS):
                    while (left := await webhook_dead(session, base)) != 0:
                        await asyncio.sleep(0.2)
            except TimeoutError:
                pass
        got = wanted & set(receiver.taken)
        return Outcome(
            actions=operator.actions,
            seconds_to_see=seen,
            seconds_to_replayed=replayed,
            seconds_replaying=replay,
            first_line=first_line,
            replayed=len(got),
            lost=len(wanted - got),
            left_dead=left,
        )
    finally:
        try:
            if router is not None:
                if router.returncode is None:
                    router.terminate()
                async with asyncio.timeout(30):
                    await router.wait()
            await hooks.cleanup()
            connection = await aio_pika.connect(AMQP_URL)
            async with connection:
                await drop_declared(await connection.channel(), exchange, ROLES)
        finally:
            store.cleanup()


async def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    executable = chromium("bench/walkthrough.py")
    console = Console()
    table = Table(title=f"A stuck destination found and replayed, {args.events} dead letters")
    columns = ("run", "actions", "s to see it", "s to replayed", "of which replaying")
    for column in (*columns, "replayed", "lost", "left dead"):
        table.add_column(column, justify="right")
    outcomes: list[Outcome] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            for number in range(1, args.runs + 1):
                outcome = await one_run(browser, args.events)
                outcomes.append(outcome)
                console.print(
                    f"run {number}: first line of Needs attention: {outcome.first_line!r}"
                )
                table.add_row(
                    str(number),
                    str(outcome.actions),
                    f"{outcome.seconds_to_see:.2f}",
                    f"{outcome.seconds_to_replayed:.2f}",
                    f"{outcome.seconds_replaying:.2f}",
                    f"{outcome.replayed}/{args.events}",
                    str(outcome.lost),
                    str(outcome.left_dead),
                )
        finally:
            await browser.close()
    console.print(table)
    slowest = max((o.seconds_to_replayed for o in outcomes), default=0.0)
    console.print(f"slowest walkthrough {slowest:.2f} s; the target is under 60 s")
    failed = [o for o in outcomes if o.lost or o.left_dead != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run()))
