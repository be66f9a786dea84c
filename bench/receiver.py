"""A webhook receiver for the benchmarks, run as its own process so its CPU is not counted
against either side: counts requests and, for bodies that carry ``data.sent_at``, the latency
from ingest to receipt. With LATENCY (seconds) it answers each request that much later, as a
slow receiver does.

    python bench/receiver.py PORT [LATENCY]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STATE: dict[str, list[float] | int] = {"count": 0, "latencies": []}
LATENCY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def hook(request: web.Request) -> web.Response:
    body = await request.read()
    if LATENCY:
        await asyncio.sleep(LATENCY)
    count = STATE["count"]
    assert isinstance(count, int)
    STATE["count"] = count + 1
    if b"sent_at" in body:
        data = orjson.loads(body).get("data") or {}
        sent = data.get("sent_at") if isinstance(data, dict) else None
        latencies = STATE["latencies"]
        if isinstance(sent, float) and isinstance(latencies, list):
            latencies.append(time.time() - sent)
    return web.Response(status=200)


async def stats(_: web.Request) -> web.Response:
    latencies = STATE["latencies"]
    assert isinstance(latencies, list)
    return web.json_response(
        {
            "count": STATE["count"],
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "samples": len(latencies),
        }
    )


async def reset(_: web.Request) -> web.Response:
    STATE["count"] = 0
    STATE["latencies"] = []
    return web.json_response({"ok": True})


def main() -> None:
    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", hook)
    from router.cli import new_event_loop

    loop = new_event_loop()
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=loop
    )


if __name__ == "__main__":
    main()
