"""Pusher delivery: HTTP calls per event and events/s of the pusher role in a burst, beside a
raw loop of signed trigger_batch POSTs (10 events each) to the same Pusher API stand-in.

    python bench/pusher.py [--events 1000] [--channels 10]

The burst is published to the exchange while the pusher role is down; the role then starts and
drains it. The stand-in (`tests/support/pusher_standin.py`) checks every signature.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path and "pusher" would be this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import aiohttp  # noqa: E402
import pusher  # noqa: E402

from adapters.pusher.client import SessionBackend  # noqa: E402
from bench.common import (  # noqa: E402
    AMQP_URL,
    DATA,
    declare_then_stop,
    drop_declared,
    fill,
    free_port,
    router_env,
    spawn_router,
)
from schemas import build_envelope  # noqa: E402
from tests.support.pusher_standin import PusherStandIn  # noqa: E402

APP, KEY, SECRET = "1001", "bench-key", "bench-secret"


async def raw_loop(standin: PusherStandIn, n: int, channels: int) -> float:
    async with aiohttp.ClientSession() as session:
        client = pusher.Pusher(
            app_id=APP,
            key=KEY,
            secret=SECRET,
            host="127.0.0.1",
            port=standin.port,
            ssl=False,
            backend=SessionBackend,
            session=session,
        )
        events = [
            {
                "channel": f"c{i % channels}",
                "name": "messages.upsert",
                "data": build_envelope(f"c{i % channels}", "messages.upsert", DATA)
                .to_json()
                .decode(),
            }
            for i in range(n)
        ]
        started = time.perf_counter()
        for start in range(0, n, 10):
            status, body = await client.trigger_batch(
                events[start : start + 10], already_encoded=True
            )
            assert status == 200, body
        return n / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=10)
    args = parser.parse_args()

    standin = PusherStandIn({APP: (KEY, SECRET)})
    await standin.start()
    exchange = f"bench-pusher-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = router_env(
        exchange,
        port,
        PUSHER_ENABLED="true",
        PUSHER_GLOBAL_ENABLED="true",
        PUSHER_GLOBAL_APP_ID=APP,
        PUSHER_GLOBAL_KEY=KEY,
        PUSHER_GLOBAL_SECRET=SECRET,
        PUSHER_GLOBAL_USE_TLS="false",
        PUSHER_GLOBAL_HOST="127.0.0.1",
        PUSHER_GLOBAL_PORT=str(standin.port),
        PUSHER_EVENTS_MESSAGES_UPSERT="true",
    )
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    try:
        raw = await raw_loop(standin, args.events, args.channels)
        raw_calls = standin.calls.get("batch_events", 0)

        await declare_then_stop(env, "pusher")
        await fill(channel, exchange, args.events, lambda i: f"c{i % args.channels}")
        before_events, before_calls = len(standin.triggered), standin.calls.get("batch_events", 0)
        router = await spawn_router(env, "pusher")
        async with asyncio.timeout(300):
            # Timed from the first event out, so process start-up is not counted.
            while len(standin.triggered) == before_events:
                await asyncio.sleep(0.001)
            started, first = time.perf_counter(), len(standin.triggered) - before_events
            while len(standin.triggered) - before_events < args.events:
                await asyncio.sleep(0.005)
        routed = (args.events - first) / (time.perf_counter() - started)
        calls = standin.calls.get("batch_events", 0) - before_calls
        router.terminate()
        await router.wait()
    finally:
        await standin.stop()
        await drop_declared(channel, exchange, ("pusher", "webhook"))
        await connection.close()

    print(f"events={args.events} channels={args.channels}")
    print(f"raw signed batches  {raw:8.0f} events/s ({raw_calls} calls)")
    print(f"pusher role         {routed:8.0f} events/s ({routed / raw:.2f}x raw)")
    print(
        f"HTTP calls per event {calls / args.events:7.3f} (target <= 0.11), {args.events / calls:.1f} events per call"
    )


if __name__ == "__main__":
    asyncio.run(main())
