"""A soak: the router under a steady mixed load for a chosen time while random faults come and
go, ending with the reliability table's row for the whole run.

    python bench/soak.py [--minutes 30] [--rate 100] [--seed N] [--markdown FILE]

The load is ``messages.upsert`` events offered by a producer that resends with the same id. Faults, one at a time with a quiet spell after each: the receiver
down, slow or flapping; RabbitMQ's application stopped, or a memory alarm; the webhook or ingest
role SIGKILLed and started again. Every fault is bounded in time and the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from bench.reliability import rabbitmq_version  # noqa: E402
from tests.reliability.load import Producer  # noqa: E402
from tests.reliability.nodes import RabbitNode  # noqa: E402
from tests.reliability.report import markdown_table, tally, wait_drained  # noqa: E402
from tests.reliability.stage import API_KEY, INSTANCE, Stage, single_node  # noqa: E402

Fault = Callable[[random.Random, RabbitNode, Stage], Awaitable[str]]


async def receiver_down(rng: random.Random, _: RabbitNode, stage: Stage) -> str:
    seconds = rng.uniform(5, 40)
    await stage.sink.down()
    await asyncio.sleep(seconds)
    await stage.sink.up()
    return f"receiver down {seconds:.0f} s"


async def receiver_slow(rng: random.Random, _: RabbitNode, stage: Stage) -> str:
    seconds = rng.uniform(10, 60)
    stage.sink.latency = 0.25
    await asyncio.sleep(seconds)
    stage.sink.latency = 0.0
    return f"receiver slow (250 ms) for {seconds:.0f} s"


async def receiver_flapping(rng: random.Random, _: RabbitNode, stage: Stage) -> str:
    seconds = rng.uniform(10, 30)
    await stage.sink.flap(period=1.0, duration=seconds)
    return f"receiver flapping for {seconds:.0f} s"


async def receiver_failing(rng: random.Random, _: RabbitNode, stage: Stage) -> str:
    seconds = rng.uniform(5, 30)
    stage.sink.failing(503)
    await asyncio.sleep(seconds)
    stage.sink.healthy()
    return f"receiver answering 503 for {seconds:.0f} s"


async def broker_stopped(rng: random.Random, node: RabbitNode, _: Stage) -> str:
    seconds = rng.uniform(2, 15)
    await node.stop_app()
    await asyncio.sleep(seconds)
    await node.start_app()
    return f"RabbitMQ stop_app {seconds:.0f} s"


async def memory_alarm(rng: random.Random, node: RabbitNode, _: Stage) -> str:
    seconds = rng.uniform(2, 20)
    await node.memory_alarm(True)
    await asyncio.sleep(seconds)
    await node.memory_alarm(False)
    return f"memory alarm {seconds:.0f} s"


async def role_killed(rng: random.Random, _: RabbitNode, stage: Stage) -> str:
    role = rng.choice(("webhook", "ingest"))
    await stage.kill(role)
    await asyncio.sleep(rng.uniform(0.5, 5))
    await stage.start(role)
    return f"{role} SIGKILLed"


FAULTS: tuple[Fault, ...] = (
    receiver_down,
    receiver_slow,
    receiver_flapping,
    receiver_failing,
    broker_stopped,
    memory_alarm,
    role_killed,
)


async def faults(
    rng: random.Random, node: RabbitNode, stage: Stage, until: float, console: Console
) -> list[str]:
    done: list[str] = []
    while time.monotonic() < until - 60:  # the last minute is quiet
        await asyncio.sleep(rng.uniform(5, 30))
        fault = rng.choice(FAULTS)
        started = time.monotonic()
        text = await fault(rng, node, stage)
        done.append(text)
        console.print(f"{started - until:+.0f} s: {text}")
    return done


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    console = Console(stderr=True)
    seconds = args.minutes * 60
    settings = {"WEBHOOK_RETRY_INITIAL_DELAY_SECONDS": "1", "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "30"}
    async with single_node(settings) as (node, stage):
        count = int(seconds * args.rate)
        producer = Producer(
            stage.ingest,
            INSTANCE,
            API_KEY,
            count=count,
            rate=args.rate,
            deadline=seconds + 300,
            max_retry_pause=0.5,
        )
        until = time.monotonic() + seconds
        with console.status(f"soak for {args.minutes:g} min, seed {seed}"):
            load, done = await asyncio.gather(
                producer.run(), faults(rng, node, stage, until, console)
            )
            drained = await wait_drained(stage.sink, load.accepted_ids, timeout=900, quiet=2)
        row = tally(f"soak {args.minutes:g} min, {len(done)} faults", load, stage.sink.deliveries)
        dead = await stage.dead_letters()
    header = (
        f"RabbitMQ {rabbitmq_version()}, seed {seed}, {args.rate:g} events/s; "
        f"drained: {drained}; dead letters: {dead}\n\nFaults: {'; '.join(done)}\n\n"
    )
    table = markdown_table([row])
    print(header + table)
    if args.markdown is not None:
        args.markdown.write_text(header + table, encoding="utf-8")


if __name__ == "__main__":
    # SIGTERM ends the run as an interrupt does, so the RabbitMQ nodes it started go with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main())
