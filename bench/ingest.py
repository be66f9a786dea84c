"""Ingest throughput: raw aio-pika confirmed publishing against the router's HTTP ingest, in
one run, on loopback, against the same broker and the same kind of bound quorum queue.

    python bench/ingest.py [--events 20000] [--concurrency 32] [--batch 100] [--no-archive]

Single: ``concurrency`` publishers each wait for their confirm (raw) or their 202 (router)
before sending the next event; the Evolution path is measured the same way beside it, with
bodies shaped as Evolution's global webhook posts them. Batch: ``batch`` events per confirm wave (raw) or per
``POST /events/{instance}/batch`` (router). Prints events/s, the ratios and the router's peak RSS.

The router is driven twice: by an aiohttp client in this process, which shares the two cores
with the router and the broker, and by ``wrk`` (when installed), whose C client costs little
CPU and so stands closer to producers on other hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    AMQP_URL,
    DATA,
    drop_declared,
    free_port,
    router_env,
    start_router,
)
from router.amqp.codec import encode  # noqa: E402
from schemas import build_envelope  # noqa: E402

API_KEY = "bench-key"


async def run_in_waves(total: int, concurrency: int, one: Callable[[int], Awaitable[int]]) -> float:
    """``concurrency`` workers call ``one`` until ``total`` events are sent; returns events/s."""
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while sent < total:
            done = await one(sent)  # read-modify-write after the await, or updates get lost
            sent += done

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent / (time.perf_counter() - started)


async def raw(
    exchange: aio_pika.abc.AbstractExchange, total: int, concurrency: int, batch: int
) -> float:
    async def one(_: int) -> int:
        envelopes = [build_envelope("bench", "messages.upsert", DATA) for _ in range(batch)]
        await asyncio.gather(
            *(exchange.publish(encode(e), e.routing_key, mandatory=True) for e in envelopes)
        )
        return batch

    return await run_in_waves(total, concurrency, one)


async def http(base: str, total: int, concurrency: int, batch: int) -> float:
    headers = {"apikey": API_KEY}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        item = {"event": "messages.upsert", "data": DATA}
        if batch == 1:
            body, url = orjson.dumps(item), f"{base}/events/bench"
        else:
            body, url = orjson.dumps([item] * batch), f"{base}/events/bench/batch"

        async def one(_: int) -> int:
            async with session.post(
                url, data=body, headers={**headers, "Content-Type": "application/json"}
            ) as r:
                if r.status != 202:
                    raise RuntimeError(f"router answered {r.status}: {await r.text()}")
            return batch

        return await run_in_waves(total, concurrency, one)


# Across rounds too: a body sent again would be answered from the ledger, not published.
EVOLUTION_NUMBERS = itertools.count()


async def evolution(base: str, total: int, concurrency: int) -> float:
    """Evolution's global webhook as it posts: the key in the path, no headers of its own, the
    body as Evolution builds it. Each body differs (Evolution's do: a message id, a time), since
    the router takes a repeated body for a retry of the same event. The bodies are made before
    the clock starts, as ``http`` makes its one body: the bench process shares the machine's
    cores with the router."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    url = f"{base}/ingest/evolution/{API_KEY}"
    bodies = [
        orjson.dumps(
            {
                "event": "messages.upsert",
                "instance": "bench",
                "data": {**DATA, "n": next(EVOLUTION_NUMBERS)},
                "destination": url,
                "date_time": "2026-12-02T09:30:00.000Z",
                "sender": "5511999999999@s.whatsapp.net",
                "server_url": "http://evolution:8080",
                "apikey": None,
            }
        )
        for _ in range(total + concurrency)
    ]
    unsent = iter(bodies)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(_: int) -> int:
            headers = {"Content-Type": "application/json"}
            async with session.post(url, data=next(unsent), headers=headers) as r:
                if r.status != 202:
                    raise RuntimeError(f"router answered {r.status}: {await r.text()}")
            return 1

        return await run_in_waves(total, concurrency, one)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%s]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["apikey"] = "%s"
"""


async def wrk(base: str, seconds: float, concurrency: int, batch: int) -> float:
    """Events/s from wrk, failing on any answer other than 202."""
    item = {"event": "messages.upsert", "data": DATA}
    if batch == 1:
        body, url = orjson.dumps(item), f"{base}/events/bench"
    else:
        body, url = orjson.dumps([item] * batch), f"{base}/events/bench/batch"
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % (body.decode(), API_KEY))
        script.flush()
        proc = await asyncio.create_subprocess_exec(
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "-s",
            script.name,
            url,
            stdout=asyncio.subprocess.PIPE,
        )
        out = (await proc.communicate())[0].decode()
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw failures:\n{out}")
    match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1)) * batch


async def media_body(base: str, pid: int, times: int = 3) -> tuple[float, float, float]:
    """A 30 MB body as Evolution posts a video (base64 in ``data.message.base64``), ``times``
    times: the slowest answer in seconds, the body's size and the router's peak RSS growth, in
    MB, over its RSS before the first."""
    before = rss_mb(pid)
    slowest = 0.0
    async with aiohttp.ClientSession() as session:
        for n in range(times):
            media = base64.b64encode(os.urandom(22_500_000)).decode()
            body = orjson.dumps(
                {
                    "event": "messages.upsert",
                    "instance": "bench",
                    "data": {"key": {"id": f"media-{n}"}, "message": {"base64": media}},
                    "date_time": "2026-12-02T09:30:00.000Z",
                }
            )
            started = time.perf_counter()
            async with session.post(f"{base}/ingest/evolution/{API_KEY}", data=body) as r:
                if r.status != 202:
                    raise RuntimeError(f"router answered {r.status}: {await r.text()}")
            slowest = max(slowest, time.perf_counter() - started)
    return slowest, len(body) / 1e6, peak_rss_mb(pid) - before


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds per measurement")
    parser.add_argument(
        "--no-archive",
        action="store_true",
        help="the router without its archive stream (ROUTER_ARCHIVE_ENABLED=false)",
    )
    args = parser.parse_args()

    exchange_name = f"bench-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(
        f"{exchange_name}.sink", durable=True, arguments={"x-queue-type": "quorum"}
    )
    await queue.bind(exchange, "*.messages.upsert")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    media_dir = tempfile.mkdtemp(prefix="bench-media-")
    proc = await start_router(
        router_env(
            exchange_name,
            port,
            AUTHENTICATION_API_KEY=API_KEY,
            ROUTER_MEDIA_STORE=media_dir,
            ROUTER_ARCHIVE_ENABLED="false" if args.no_archive else "true",
        ),
        "ingest",
    )
    few = max(1, args.concurrency // 8)
    plan: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        ("raw single", lambda: raw(exchange, args.events, args.concurrency, 1)),
        ("evolution single", lambda: evolution(base, args.events, args.concurrency)),
        ("router single", lambda: http(base, args.events, args.concurrency, 1)),
        ("raw batch", lambda: raw(exchange, args.events * 5, few, args.batch)),
        ("router batch", lambda: http(base, args.events * 5, few, args.batch)),
    ]
    if shutil.which("wrk"):
        plan += [
            ("router single (wrk)", lambda: wrk(base, 5, args.concurrency, 1)),
            ("router batch (wrk)", lambda: wrk(base, 5, few, args.batch)),
        ]
    results: dict[str, float] = {}
    try:
        # First, while the router's peak RSS is still its RSS at rest.
        slowest, media_mb, media_growth = await media_body(base, proc.pid)
        await queue.purge()
        for name, measure in plan:
            best = 0.0
            for _ in range(args.rounds):
                best = max(best, await measure())
                await queue.purge()
            results[name] = best
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        await proc.wait()
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
        await drop_declared(channel, exchange_name, ("webhook",))
        await connection.close()
        shutil.rmtree(media_dir, ignore_errors=True)

    print(
        f"events={args.events} concurrency={args.concurrency} batch={args.batch} rounds={args.rounds}"
    )
    for name, rate in results.items():
        print(f"{name:20s} {rate:10.0f} events/s")
    for kind in ("single", "batch"):
        for client in ("", " (wrk)"):
            if f"router {kind}{client}" in results:
                ratio = results[f"router {kind}{client}"] / results[f"raw {kind}"]
                print(f"{kind} ratio{client:6s} {ratio:.2f}x raw")
    evolution_ratio = results["evolution single"] / results["router single"]
    print(f"evolution path      {evolution_ratio:.2f}x /events (single)")
    print(f"router peak RSS {rss:.0f} MB")
    print(
        f"media body {media_mb:.1f} MB: slowest answer {slowest:.2f} s, "
        f"peak RSS growth {media_growth:.0f} MB ({media_growth / media_mb:.1f}x the body)"
    )


if __name__ == "__main__":
    asyncio.run(main())
