"""The fault scenarios, each at two sizes: ``CI`` (scaled down through settings so the suite runs
in minutes, every threshold still passed) and ``FULL`` (the sizes ``bench/reliability.py``
reports). A scenario runs a producer against the router while it injects its fault, waits for
the backlog to drain and returns what the sink saw; the tests and the benchmark judge it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import aio_pika

from tests.reliability.channels import (
    PUSHER_APP,
    PusherChannel,
    SqsQueue,
    polling,
    pusher_settings,
    sqs_settings,
)
from tests.reliability.load import LoadResult, Producer
from tests.reliability.nodes import RabbitNode
from tests.reliability.report import Receives, Row, tally, wait_drained
from tests.reliability.sink import Sink
from tests.reliability.stage import API_KEY, INSTANCE, Stage, cluster, single_node
from tests.support.moto import MotoServer
from tests.support.pusher_standin import PusherStandIn

Fault = Callable[[Stage], Awaitable[None]]
MOTO_EVENTS = 2000


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    events: int  # per scenario
    rate: float  # events per second offered by the producer
    outage: float  # seconds a broker fault lasts
    receiver_down: float  # seconds the receiver is down: past the longest retry delay
    slow_events: int  # the slow receiver's burst, long enough to outlive any expiry
    slow_cap: int  # requests in flight to the slow receiver
    drain: float  # seconds the backlog may take after the load
    settings: dict[str, str] = field(default_factory=dict)


# Retry delays scaled down: the longest delay queue holds 2 x 4 s x 1.2, about 10 s.
CI = Size(
    "ci",
    events=600,
    rate=100,
    outage=5,
    receiver_down=15,
    slow_events=2600,  # at 4 in flight and 250 ms a request: about 160 s, past 122 s
    slow_cap=4,
    drain=120,
    settings={
        "WEBHOOK_RETRY_INITIAL_DELAY_SECONDS": "0.5",
        "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "4",
        "WEBHOOK_REQUEST_TIMEOUT_MS": "5000",
    },
)
# The sizes of the report the project set itself against, with Evolution's default retries.
FULL = Size(
    "full",
    events=10_000,
    rate=200,
    outage=20,
    receiver_down=60,
    slow_events=10_000,
    slow_cap=16,
    drain=900,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    row: Row
    dead_letters: int  # in the webhook role's DLQ at the end
    fault_seconds: float  # how long the fault itself lasted
    drained: bool
    notes: dict[str, float] = field(default_factory=dict)
    # /readyz of ingest while the fault lasted and after it, where the scenario asks
    ready_during: tuple[int, dict[str, object]] | None = None
    ready_after: tuple[int, dict[str, object]] | None = None


async def run(
    stage: Stage,
    name: str,
    size: Size,
    fault: Fault,
    *,
    events: int | None = None,
    lead: float = 1.0,
    drain: float | None = None,
    receiver: Receives | None = None,
) -> tuple[LoadResult, Row, bool]:
    """Offer the events at the size's rate; ``lead`` seconds in, inject the fault. Deliveries
    are counted at ``receiver``, the webhook sink unless another is given."""
    counted: Receives = stage.sink if receiver is None else receiver
    count = size.events if events is None else events
    producer = Producer(
        stage.ingest,
        INSTANCE,
        API_KEY,
        count=count,
        rate=size.rate,
        deadline=count / size.rate + 10 * size.outage + 120,
        max_retry_pause=0.2,
    )
    load = asyncio.create_task(producer.run())
    try:
        await asyncio.sleep(lead)
        await fault(stage)
    finally:
        result = await load
    drained = await wait_drained(
        counted, result.accepted_ids, timeout=drain or size.drain, quiet=1.0
    )
    return result, tally(name, result, counted.deliveries), drained


async def timed(fault: Awaitable[None]) -> float:
    started = time.monotonic()
    await fault
    return time.monotonic() - started


async def slow_receiver(size: Size) -> Outcome:
    settings = {**size.settings, "WEBHOOK_ENDPOINT_MAX_IN_FLIGHT": str(size.slow_cap)}
    async with single_node(settings) as (_, stage):
        stage.sink.latency = 0.25

        async def nothing(_: Stage) -> None:
            return None

        pace = size.slow_events * 0.25 / size.slow_cap
        fast = replace(size, rate=max(size.rate, 200.0))
        _, row, drained = await run(
            stage, "slow receiver", fast, nothing, events=size.slow_events, drain=3 * pace + 60
        )
        return Outcome(row, await stage.dead_letters(), 0.0, drained, {"pace_seconds": pace})


async def receiver_down(size: Size) -> Outcome:
    async with single_node(size.settings) as (_, stage):
        spent = 0.0

        async def down(stage: Stage) -> None:
            nonlocal spent
            started = time.monotonic()
            await stage.sink.down()
            await asyncio.sleep(size.receiver_down)
            await stage.sink.up()
            spent = time.monotonic() - started

        _, row, drained = await run(stage, f"receiver down {size.receiver_down:g} s", size, down)
        behind_breaker = await stage.metric("webhook", "router_webhook_deferred_total", why="open")
        return Outcome(
            row, await stage.dead_letters(), spent, drained, {"behind_breaker": behind_breaker}
        )


async def broker_restart(size: Size) -> Outcome:
    async with single_node(size.settings) as (node, stage):
        spent = 0.0

        async def restart(_: Stage) -> None:
            nonlocal spent
            started = time.monotonic()
            await node.stop_app()
            await asyncio.sleep(size.outage)
            await node.start_app()
            spent = time.monotonic() - started

        _, row, drained = await run(
            stage, f"broker stop_app {size.outage:g} s", size, restart, lead=2.0
        )
        return Outcome(row, await stage.dead_letters(), spent, drained)


async def kill_and_restart(stage: Stage, role: str) -> float:
    """SIGKILL ``role``, start it again a second later; the seconds it was away."""
    started = time.monotonic()
    await stage.kill(role)
    await asyncio.sleep(1.0)
    await stage.start(role)
    return time.monotonic() - started


async def role_killed(size: Size, role: str) -> Outcome:
    async with single_node(size.settings) as (_, stage):
        spent = 0.0

        async def kill(stage: Stage) -> None:
            nonlocal spent
            spent = await kill_and_restart(stage, role)

        _, row, drained = await run(stage, f"{role} SIGKILLed and restarted", size, kill, lead=2.0)
        return Outcome(row, await stage.dead_letters(), spent, drained)


async def channel_role_killed(size: Size, role: str) -> Outcome:
    """The SQS or Pusher role SIGKILLed and started again; deliveries are counted at the queue
    (moto) or the Pusher-protocol stand-in."""
    async with contextlib.AsyncExitStack() as stack:
        receiver: SqsQueue | PusherChannel
        if role == "sqs":
            moto = MotoServer()
            await moto.start()
            stack.push_async_callback(moto.stop)
            receiver, settings = SqsQueue(moto, f"{INSTANCE}-messages_upsert"), sqs_settings(moto)
        else:
            standin = PusherStandIn({PUSHER_APP[0]: (PUSHER_APP[1], PUSHER_APP[2])})
            await standin.start()
            stack.push_async_callback(standin.stop)
            receiver, settings = PusherChannel(standin), pusher_settings(standin)
        node = await stack.enter_async_context(RabbitNode())
        sink = await stack.enter_async_context(Sink())
        stage = await stack.enter_async_context(
            Stage([node], sink, {**size.settings, **settings}, roles=("ingest", role))
        )
        await stack.enter_async_context(polling(receiver))
        spent = 0.0

        async def kill(stage: Stage) -> None:
            nonlocal spent
            spent = await kill_and_restart(stage, role)

        # moto's SQS slows down with every message it holds: a few thousand at most.
        events = min(size.events, MOTO_EVENTS) if role == "sqs" else size.events
        _, row, drained = await run(
            stage,
            f"{role} SIGKILLed and restarted",
            size,
            kill,
            lead=2.0,
            receiver=receiver,
            events=events,
        )
        return Outcome(row, await stage.dead_letters(role), spent, drained)


async def memory_alarm(size: Size) -> Outcome:
    async with single_node(size.settings) as (node, stage):
        spent = 0.0
        readiness: list[tuple[int, dict[str, object]]] = []

        async def alarm(stage: Stage) -> None:
            nonlocal spent
            started = time.monotonic()
            await node.memory_alarm(True)
            await asyncio.sleep(min(1.0, size.outage / 2))
            readiness.append(await stage.ready("ingest"))
            await asyncio.sleep(size.outage)
            await node.memory_alarm(False)
            spent = time.monotonic() - started

        _, row, drained = await run(stage, f"memory alarm {size.outage:g} s", size, alarm)
        after = await stage.ready("ingest")
        return Outcome(
            row,
            await stage.dead_letters(),
            spent,
            drained,
            ready_during=readiness[0],
            ready_after=after,
        )


async def cluster_node_loss(size: Size) -> Outcome:
    """The node every role is connected to is stopped, then, once it is back and has caught up,
    the node they moved to: each time, the roles go on with another node of the cluster."""
    async with cluster(size.settings) as (nodes, stage):
        spent = 0.0

        async def lose(_: Stage) -> None:
            nonlocal spent
            for index in (1, 2):
                node = nodes.node(index)
                # As an operator (or the Kubernetes operator) does before stopping a node: wait
                # until the node brought back has caught up, or two of three would be missing.
                async with asyncio.timeout(60):
                    while await node.quorum_critical():
                        await asyncio.sleep(0.5)
                started = time.monotonic()
                await node.stop()
                await asyncio.sleep(size.outage)
                spent += time.monotonic() - started
                await node.start()
                await nodes.await_running(3, via=3)

        unready = asyncio.create_task(longest_unready(stage, "ingest"))
        try:
            _, row, drained = await run(
                stage, f"3-node cluster, two nodes stopped {size.outage:g} s in turn", size, lose
            )
        finally:
            unready.cancel()
            longest = await unready
        return Outcome(
            row, await stage.dead_letters(), spent, drained, {"longest_unready": longest}
        )


async def longest_unready(stage: Stage, role: str) -> float:
    """The longest time ``role`` answered /readyz with anything but 200, until cancelled:
    how long it took the router to fail over, apart from what RabbitMQ itself refused."""
    longest = 0.0
    since: float | None = None
    try:
        while True:
            try:
                status, _ = await stage.ready(role)
            except Exception:
                status = 0
            now = time.monotonic()
            if status == 200:
                since = None
            elif since is None:
                since = now
            else:
                longest = max(longest, now - since)
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        return longest


POISON = (
    b"not json at all",
    b"[1, 2, 3]",
    b'{"event": "messages.upsert"}',
    b'{"instance": "shop", "event": "No such event", "data": {}}',
    b"\xff\xfe\x00",
)


async def poison_messages(size: Size) -> Outcome:
    async with single_node(size.settings) as (node, stage):

        async def poison(stage: Stage) -> None:
            connection = await aio_pika.connect(node.amqp_url)
            try:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.get_exchange(stage.exchange)
                for _ in range(4):
                    for body in POISON:
                        await exchange.publish(
                            aio_pika.Message(body), f"{INSTANCE}.messages.upsert"
                        )
            finally:
                await connection.close()

        _, row, drained = await run(stage, "poison messages", size, poison)
        await asyncio.sleep(1.0)
        return Outcome(row, await stage.dead_letters(), 0.0, drained, {"poison": 4 * len(POISON)})


async def endpoint_flapping(size: Size) -> Outcome:
    async with single_node(size.settings) as (_, stage):
        spent = 0.0

        async def flap(stage: Stage) -> None:
            nonlocal spent
            started = time.monotonic()
            await stage.sink.flap(period=1.0, duration=2 * size.outage)
            spent = time.monotonic() - started

        _, row, drained = await run(stage, "receiver flapping every 1 s", size, flap)
        return Outcome(row, await stage.dead_letters(), spent, drained)


SCENARIOS: dict[str, Callable[[Size], Awaitable[Outcome]]] = {
    "slow-receiver": slow_receiver,
    "receiver-down": receiver_down,
    "broker-restart": broker_restart,
    "ingest-killed": lambda size: role_killed(size, "ingest"),
    "webhook-killed": lambda size: role_killed(size, "webhook"),
    "sqs-killed": lambda size: channel_role_killed(size, "sqs"),
    "pusher-killed": lambda size: channel_role_killed(size, "pusher"),
    "memory-alarm": memory_alarm,
    "cluster-node-loss": cluster_node_loss,
    "poison-messages": poison_messages,
    "endpoint-flapping": endpoint_flapping,
}
