"""The harness itself, on real nodes: a node can be blocked and restarted, a cluster keeps a
quorum queue through a killed member, and the router delivers every accepted event when
nothing goes wrong."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection
from pamqp.common import FieldTable

from tests.reliability.cluster import RabbitCluster
from tests.reliability.load import Producer
from tests.reliability.nodes import RabbitNode
from tests.reliability.processes import port_accepts
from tests.reliability.report import markdown_table, tally, wait_drained
from tests.reliability.sink import Sink
from tests.support.process import RouterProcess, clean_env

QUORUM: FieldTable = {"x-queue-type": "quorum"}


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[AbstractConnection]:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        yield connection
    finally:
        # A blocked or half-dead connection may never finish its close handshake.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), 5)


async def publish(channel: AbstractChannel, queue: str, body: bytes) -> None:
    message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
    await channel.default_exchange.publish(message, queue, mandatory=True)


async def drain(channel: AbstractChannel, queue: str, limit: int = 100) -> list[bytes]:
    q = await channel.get_queue(queue, ensure=False)
    bodies = []
    for _ in range(limit):
        message = await q.get(fail=False, timeout=10)
        if message is None:
            break
        await message.ack()
        bodies.append(message.body)
    return bodies


def closed_event(connection: AbstractConnection) -> asyncio.Event:
    """Set once the connection was closed, by either side."""
    closed = asyncio.Event()
    connection.close_callbacks.add(lambda *_: closed.set())
    return closed


async def test_node_blocks_publishers_under_memory_alarm_and_survives_an_app_restart() -> None:
    async with RabbitNode() as node:
        assert node.running
        assert node.boot_seconds is not None
        assert node.name.startswith("rtest-")
        async with connected(node.amqp_url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue("probe", durable=True, arguments=QUORUM)
            await publish(channel, "probe", b"before")

            await node.memory_alarm(True)
            assert await node.alarms() == ["memory"]
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(publish(channel, "probe", b"blocked"), 2)

            await node.memory_alarm(False)
            assert await node.alarms() == []
            await asyncio.wait_for(publish(channel, "probe", b"after"), 10)

            closed = closed_event(connection)
            await node.stop_app()
            assert node.running  # the OS process stays
            assert not await port_accepts(node.amqp_port)
            await asyncio.wait_for(closed.wait(), 10)
        with pytest.raises(ConnectionError):
            await aio_pika.connect(node.amqp_url, timeout=5)

        await node.start_app()
        assert await port_accepts(node.amqp_port)
        async with connected(node.amqp_url) as connection:
            channel = await connection.channel()
            bodies = await drain(channel, "probe")
        # The publish cut short by the alarm may or may not have reached the queue.
        assert bodies in ([b"before", b"after"], [b"before", b"blocked", b"after"])

        port = node.amqp_port
        await node.kill()
        assert not node.running
        assert not await port_accepts(port)


async def test_cluster_keeps_a_quorum_queue_usable_when_a_node_is_killed() -> None:
    async with RabbitCluster(3) as cluster:
        assert cluster.form_seconds is not None
        assert len(set(cluster.urls)) == 3
        for i in (1, 2, 3):
            assert await cluster.node(i).running_nodes() == sorted(cluster.names)

        async with connected(cluster.urls[0]) as first:
            channel = await first.channel(publisher_confirms=True)
            await channel.declare_queue("orders", durable=True, arguments=QUORUM)
            await publish(channel, "orders", b"one")

        async with connected(cluster.node(2).amqp_url) as second:
            channel = await second.channel(publisher_confirms=True)
            queue = await channel.declare_queue("orders", durable=True, arguments=QUORUM)
            assert queue.declaration_result.message_count == 1
            await publish(channel, "orders", b"two")

            # Node 1 holds the queue's leader: a new one must be elected among the rest.
            await cluster.node(1).kill()
            assert not cluster.node(1).running
            await cluster.await_running(2, via=2)
            await asyncio.wait_for(publish(channel, "orders", b"three"), 30)

        async with connected(cluster.node(3).amqp_url) as third:
            channel = await third.channel()
            assert await drain(channel, "orders") == [b"one", b"two", b"three"]


async def stop_router(router: RouterProcess) -> str:
    try:
        return await router.stop()
    finally:
        await router.kill()


@contextlib.asynccontextmanager
async def running_router(env: Mapping[str, str]) -> AsyncIterator[RouterProcess]:
    router = RouterProcess(env)
    await router.start(ready_within=30)
    try:
        yield router
    finally:
        await stop_router(router)


async def test_router_delivers_every_accepted_event_when_nothing_fails() -> None:
    count = 300
    async with RabbitNode() as node, Sink() as sink:
        env = clean_env(
            RABBITMQ_URI=node.amqp_url,
            RABBITMQ_EXCHANGE_NAME=f"reliability-{secrets.token_hex(4)}",
            AUTHENTICATION_API_KEY="reliability-key",
            WEBHOOK_GLOBAL_ENABLED="true",
            WEBHOOK_GLOBAL_URL=sink.url,
            WEBHOOK_EVENTS_MESSAGES_UPSERT="true",
            LOG_LEVEL="WARN",
        )
        try:
            async with running_router(env) as router:
                producer = Producer(
                    router.base, "shop", "reliability-key", count=count, rate=200, deadline=30
                )
                load = await producer.run()
                drained = await wait_drained(sink, load.accepted_ids, timeout=30, quiet=0.5)
        finally:
            shutil.rmtree(Path(env["ROUTER_STORE_PATH"]).parent, ignore_errors=True)
        row = tally("no faults", load, sink.deliveries)

    assert drained, row
    assert row.sent == count
    assert row.accepted == count
    assert row.delivered == count
    assert row.lost == 0
    assert row.lost_ids == ()
    assert row.duplicates_same_id == 0
    assert row.duplicates_new_id == 0
    assert row.unexpected == 0
    assert row.failure_window is None
    assert row.failing_seconds == 0
    assert (row.unavailable, row.connection_errors) == (0, 0)
    assert row.drain_seconds is not None
    assert 0 <= row.drain_seconds < 30
    assert 0 < row.longest_request < 5
    assert all(s.answered_id == s.id and s.attempts == 1 for s in load.sent)
    assert sorted(d.seq for d in sink.deliveries if d.seq is not None) == list(range(count))
    # At 200 events/s the load itself takes about 1.5 s.
    assert 1.0 < load.finished_at - load.started_at < 10
    table = markdown_table([row])
    assert f"| no faults | {count} | {count} | 0 | 0 / 0 |" in table
    assert "| none |" in table
