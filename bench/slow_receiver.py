"""Broker round trips per event while its receiver is slow: a burst for one receiver that
answers each request after ``--latency`` seconds, drained by the webhook role.

    python bench/slow_receiver.py [--events 2000] [--latency 0.25] [--router-root PATH]

Every time the consumer takes a message from the work queue is one round trip through the
broker (a delivery, and for a deferral also a confirmed publish to a delay queue); an event
delivered at the first try costs one. Printed: deliveries taken per event, deferrals per event,
time to drain, and that time against the receiver's own pace (``in flight / latency``), the
fastest any sender with the same cap could go. ``--router-root`` runs another checkout of the
router (an earlier release) in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.common import (  # noqa: E402
    AMQP_URL,
    declare_then_stop,
    drop_declared,
    fill,
    free_port,
    router_env,
    start_router,
)
from bench.webhook import ReceiverProcess  # noqa: E402

CAP = 16  # WEBHOOK_ENDPOINT_MAX_IN_FLIGHT, the default


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def metrics(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        return await response.text()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--router-root", type=Path, default=ROOT)
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter that runs the router"
    )
    args = parser.parse_args()

    receiver = ReceiverProcess(latency=args.latency)
    await receiver.start()
    exchange = f"bench-slow-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = router_env(
        exchange,
        port,
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL=f"{receiver.base}/hook",
        WEBHOOK_EVENTS_MESSAGES_UPSERT="true",
        WEBHOOK_ENDPOINT_MAX_IN_FLIGHT=str(CAP),
    )
    root = args.router_root.resolve()
    common.PYTHON = args.python
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    delays: list[str] = []
    try:
        os.chdir(root)  # the router is started from its own checkout
        await declare_then_stop(env, "webhook")
        await fill(channel, exchange, args.events, lambda _: "bench")
        await receiver.reset()
        started = time.perf_counter()
        router = await start_router(env, "webhook")
        try:
            await receiver.wait_count(args.events, seconds=3600)
            drained = time.perf_counter() - started
            await asyncio.sleep(1)
            text = await metrics(port)
        finally:
            router.terminate()
            await router.wait()
        taken = metric_sum(text, "router_deliveries_total", adapter="webhook")
        deferred = metric_sum(text, "router_deliveries_total", adapter="webhook", outcome="retry")
        delays = [
            line for line in text.splitlines() if line.startswith("router_webhook_deferred_total{")
        ]
    finally:
        await receiver.stop()
        for name in (f"{exchange}.webhook.{kind}" for kind in ("delay", "retry")):
            for ms in (100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000):
                await channel.queue_delete(f"{name}.{ms}ms")
            for ms in (2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000, 20000, 25000):
                await channel.queue_delete(f"{name}.{ms}ms")
        await drop_declared(channel, exchange, ("webhook",))
        await connection.close()

    ideal = args.events * args.latency / CAP
    print(f"router at {root}")
    print(f"events={args.events} receiver latency={args.latency}s in flight={CAP}")
    print(f"deliveries taken per event  {taken / args.events:6.2f}")
    print(f"deferrals per event         {deferred / args.events:6.2f}")
    print(f"time to drain               {drained:6.1f} s (receiver's own pace: {ideal:.1f} s)")
    print(f"pace ratio                  {ideal / drained:6.2f}x")
    for line in delays:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
