"""Webhook delivery: a raw chain (aio-pika consume -> aiohttp POST, no router) against the
router (HTTP ingest -> exchange -> webhook adapter), both posting to the same receiver process.

    python bench/webhook.py [--events 20000] [--rate 500] [--seconds 10] [--backlog 200000]
                            [--shaped 20000] [--only-shapes] [--only-throughput]
                            [--no-history] [--no-archive]

Prints sustained events/s of both and the ratio, p50/p99 latency from ingest to the receiver at
``--rate`` events/s, the adapter's RSS while ``--backlog`` events wait in its queue, and what
payload shapes cost: ``--shaped`` events drained by two subscriptions (the global webhook and
an instance's), once with both in Evolution's shape and once each with the instance's in
RyzeAPI's and VZaps' (``--only-shapes`` measures that alone).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    AMQP_URL,
    DATA,
    declare_then_stop,
    drop_declared,
    fill,
    free_port,
    router_env,
    start_router,
    wait_http,
)
from bench.ingest import peak_rss_mb  # noqa: E402

API_KEY = "bench-key"
PREFETCH = 64


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class ReceiverProcess:
    def __init__(self, latency: float = 0.0) -> None:
        self.port = free_port()
        self.latency = latency
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "receiver.py"), str(self.port), str(self.latency)
        )
        await wait_http(f"{self.base}/stats")

    async def stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.base}/stats") as r:
            result: dict[str, Any] = await r.json()
            return result

    async def reset(self) -> None:
        async with aiohttp.ClientSession() as s, s.post(f"{self.base}/reset"):
            pass

    async def wait_count(self, n: int, seconds: float = 600) -> float:
        """Seconds until the receiver has counted ``n`` requests."""
        started = time.perf_counter()
        async with asyncio.timeout(seconds):
            while (await self.stats())["count"] < n:
                await asyncio.sleep(0.02)
        return time.perf_counter() - started

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            await self.proc.wait()


async def raw_chain(receiver: ReceiverProcess, n: int) -> float:
    """aio-pika consumer posting each body to the receiver, ack after the answer."""
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, "#")
    await fill(channel, name, n, lambda _: "bench")
    await receiver.reset()
    session = aiohttp.ClientSession()
    url = f"{receiver.base}/raw"

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with session.post(
            url, data=message.body, headers={"Content-Type": "application/json"}
        ) as r:
            await r.read()
        await message.ack()

    started = time.perf_counter()
    await queue.consume(lambda m: asyncio.ensure_future(on_message(m)))
    await receiver.wait_count(n)
    rate = n / (time.perf_counter() - started)
    await session.close()
    await queue.delete(if_unused=False, if_empty=False)
    await exchange.delete()
    await connection.close()
    return rate


def webhook_env(
    exchange: str,
    receiver: ReceiverProcess,
    port: int,
    *,
    history: bool = True,
    archive: bool = True,
) -> dict[str, str]:
    return router_env(
        exchange,
        port,
        AUTHENTICATION_API_KEY=API_KEY,
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL=f"{receiver.base}/hook",
        WEBHOOK_EVENTS_MESSAGES_UPSERT="true",
        ROUTER_PREFETCH=str(PREFETCH),
        WEBHOOK_ENDPOINT_MAX_IN_FLIGHT=str(PREFETCH),
        ROUTER_HISTORY_ENABLED="true" if history else "false",
        ROUTER_ARCHIVE_ENABLED="true" if archive else "false",
    )


async def drain_seconds(
    env: dict[str, str],
    channel: aio_pika.abc.AbstractChannel,
    exchange: str,
    receiver: ReceiverProcess,
    n: int,
    shape: str,
) -> float:
    """Seconds for the webhook role to deliver ``n`` waiting events to two subscriptions, the
    instance's in ``shape``, from its start."""
    # Set through the ingest role's configuration API; the webhook role reads it at start.
    api = {**env, "SERVER_PORT": str(free_port())}
    ingest = await start_router(api, "ingest")
    hook = {"enabled": True, "url": f"{receiver.base}/own", "events": ["MESSAGES_UPSERT"]}
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{api['SERVER_PORT']}/webhook/set/bench",
                json={"webhook": {**hook, "format": shape}},
                headers={"apikey": API_KEY},
            ) as answer,
        ):
            assert answer.status in (200, 201), await answer.text()
    finally:
        ingest.terminate()
        await ingest.wait()
    await fill(channel, exchange, n, lambda _: "bench")
    await receiver.reset()
    started = time.perf_counter()
    adapter = await start_router(env, "webhook")
    try:
        await receiver.wait_count(2 * n)
        return time.perf_counter() - started
    finally:
        adapter.terminate()
        await adapter.wait()


async def shape_costs(
    env: dict[str, str],
    channel: aio_pika.abc.AbstractChannel,
    exchange: str,
    receiver: ReceiverProcess,
    args: argparse.Namespace,
) -> dict[str, float]:
    """The same drain with half the subscriptions in each platform's shape."""
    return {
        shape: await drain_seconds(env, channel, exchange, receiver, args.shaped, shape)
        for shape in ("evolution", "ryze", "vzaps")
    }


def print_shapes(n: int, seconds: dict[str, float]) -> None:
    plain = seconds["evolution"]
    others = ", ".join(
        f"one {shape} {took:.2f} s ({(took / plain - 1) * 100:+.1f} %)"
        for shape, took in seconds.items()
        if shape != "evolution"
    )
    print(f"{n} events to two subscriptions: both evolution {plain:.2f} s, {others}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--backlog", type=int, default=200000)
    parser.add_argument("--shaped", type=int, default=20000)
    parser.add_argument("--only-shapes", action="store_true")
    parser.add_argument(
        "--only-throughput", action="store_true", help="the raw chain and the router end to end"
    )
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="the router without its attempt history (ROUTER_HISTORY_ENABLED=false)",
    )
    parser.add_argument(
        "--no-archive",
        action="store_true",
        help="the router without its archive stream (ROUTER_ARCHIVE_ENABLED=false)",
    )
    args = parser.parse_args()

    receiver = ReceiverProcess()
    await receiver.start()
    exchange = f"bench-hook-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = webhook_env(
        exchange, receiver, port, history=not args.no_history, archive=not args.no_archive
    )
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    try:
        if args.only_shapes:
            await declare_then_stop(env, "webhook")
            print_shapes(args.shaped, await shape_costs(env, channel, exchange, receiver, args))
            return
        raw = await raw_chain(receiver, args.events)

        # Ingest and delivery as two processes, as roles are meant to be deployed.
        ingest_env = {**env, "SERVER_PORT": str(free_port())}
        ingest_base = f"http://127.0.0.1:{ingest_env['SERVER_PORT']}"
        router = await start_router(env, "webhook")
        ingest = await start_router(ingest_env, "ingest")
        await receiver.reset()
        item = orjson.dumps([{"event": "messages.upsert", "data": DATA}] * 100)
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            for _ in range(args.events // 100):
                async with session.post(
                    f"{ingest_base}/events/bench/batch",
                    data=item,
                    headers={"apikey": API_KEY, "Content-Type": "application/json"},
                ) as r:
                    assert r.status == 202, await r.text()
        await receiver.wait_count(args.events // 100 * 100)
        routed = args.events // 100 * 100 / (time.perf_counter() - started)
        if args.only_throughput:
            for proc in (router, ingest):
                proc.terminate()
                await proc.wait()
            print(
                f"raw chain {raw:.0f} events/s, router {routed:.0f} events/s: {routed / raw:.2f}x"
            )
            return

        # Latency at a steady rate: single events, each stamped with its send time.
        await receiver.reset()
        interval = 1 / args.rate
        total = int(args.rate * args.seconds)
        async with aiohttp.ClientSession() as session:
            next_at = time.perf_counter()
            pending = []
            for i in range(total):
                body = orjson.dumps(
                    {"event": "messages.upsert", "data": {"n": i, "sent_at": time.time()}}
                )
                pending.append(
                    asyncio.ensure_future(
                        session.post(
                            f"{ingest_base}/events/bench",
                            data=body,
                            headers={"apikey": API_KEY, "Content-Type": "application/json"},
                        )
                    )
                )
                next_at += interval
                await asyncio.sleep(max(0, next_at - time.perf_counter()))
            for response in await asyncio.gather(*pending):
                assert response.status == 202
                response.release()
        await receiver.wait_count(total)
        latency = await receiver.stats()
        for proc in (router, ingest):
            proc.terminate()
            await proc.wait()

        # Backlog: the adapter is down while the events pile up, then drains them.
        await fill(channel, exchange, args.backlog, lambda _: "bench")
        await receiver.reset()
        adapter = await start_router(env, "webhook")
        samples = []
        for _ in range(40):
            samples.append(rss_mb(adapter.pid))
            await asyncio.sleep(0.5)
        drained = (await receiver.stats())["count"]
        peak = peak_rss_mb(adapter.pid)
        adapter.terminate()
        await adapter.wait()

        await (await channel.get_queue(f"{exchange}.webhook", ensure=False)).purge()
        shapes = await shape_costs(env, channel, exchange, receiver, args)
    finally:
        await receiver.stop()
        await drop_declared(channel, exchange, ("webhook",))
        await connection.close()

    print(f"events={args.events} rate={args.rate}/s for {args.seconds}s backlog={args.backlog}")
    print(f"raw chain            {raw:8.0f} events/s")
    print(f"router               {routed:8.0f} events/s")
    print(f"ratio                {routed / raw:8.2f}x raw")
    print(
        f"latency ingest->receiver at {args.rate}/s: p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms ({latency['samples']} samples)"
    )
    print(
        f"adapter RSS with a {args.backlog} backlog: first {samples[0]:.0f} MB, last {samples[-1]:.0f} MB, peak {peak:.0f} MB; {drained} delivered in 20 s"
    )
    print_shapes(args.shaped, shapes)


if __name__ == "__main__":
    asyncio.run(main())
