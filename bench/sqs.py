"""SQS delivery: API calls per event and events/s of the sqs role, beside raw boto3
SendMessageBatch against the same moto server.

    python bench/sqs.py [--events 1000] [--queues 10]

The burst is published straight to the exchange while the sqs role is down, then the role
starts and drains it; the server counts the calls it answered.
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
)
from schemas import build_envelope  # noqa: E402
from tests.support.moto import MotoServer  # noqa: E402


def count_messages(client: Any, names: list[str]) -> int:
    total = 0
    for name in names:
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        total += int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return total


def raw_batches(client: Any, n: int, queues: int) -> float:
    """boto3 SendMessageBatch of 10, the same bodies, round-robin over ``queues`` queues."""
    urls = [
        client.create_queue(QueueName=f"raw-{i}-messages_upsert")["QueueUrl"] for i in range(queues)
    ]
    bodies = [
        build_envelope(f"raw-{i % queues}", "messages.upsert", DATA).to_json().decode()
        for i in range(n)
    ]
    started = time.perf_counter()
    per_queue = [bodies[i::queues] for i in range(queues)]
    for url, items in zip(urls, per_queue, strict=True):
        for start in range(0, len(items), 10):
            entries = [
                {"Id": str(j), "MessageBody": b} for j, b in enumerate(items[start : start + 10])
            ]
            client.send_message_batch(QueueUrl=url, Entries=entries)
    return n / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=10)
    args = parser.parse_args()

    moto = MotoServer()
    await moto.start()
    client = moto.client()
    exchange = f"bench-sqs-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = router_env(
        exchange,
        port,
        SQS_ENABLED="true",
        SQS_GLOBAL_ENABLED="true",
        SQS_GLOBAL_MESSAGES_UPSERT="true",
        SQS_ENDPOINT_URL=moto.url,
        SQS_REGION="us-east-1",
        SQS_ACCESS_KEY_ID="test",
        SQS_SECRET_ACCESS_KEY="test",
    )
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    try:
        raw = await asyncio.to_thread(raw_batches, client, args.events, args.queues)

        # Declare the topology once, stop, fill the queue, then let the role drain the burst.
        await declare_then_stop(env, "sqs")
        await fill(channel, exchange, args.events, lambda i: f"q{i % args.queues}")
        names = [f"q{i}-messages_upsert" for i in range(args.queues)]
        started = time.perf_counter()
        router = await start_router(env, "sqs")
        async with asyncio.timeout(300):
            while True:
                try:
                    if await asyncio.to_thread(count_messages, client, names) >= args.events:
                        break
                except client.exceptions.QueueDoesNotExist:
                    pass
                await asyncio.sleep(0.1)
        routed = args.events / (time.perf_counter() - started)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            text = await response.text()
        router.terminate()
        await router.wait()
    finally:
        await moto.stop()
        await drop_declared(channel, exchange, ("sqs", "webhook"))
        await connection.close()

    def metric(name: str) -> float:
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    batches = metric("router_sqs_batches_total")
    # Calls: one SendMessageBatch per batch, one CreateQueue per queue, one ListQueues at start.
    calls = batches + args.queues + 1
    print(f"events={args.events} queues={args.queues}")
    print(f"raw boto3 batches   {raw:8.0f} events/s")
    print(f"sqs role            {routed:8.0f} events/s ({routed / raw:.2f}x raw)")
    print(f"SendMessageBatch    {batches:8.0f} calls, {args.events / batches:.1f} events per batch")
    print(f"API calls per event {calls / args.events:8.3f} (target <= 0.11)")


if __name__ == "__main__":
    asyncio.run(main())
