"""Shared fixtures: a real RabbitMQ on loopback, unique names per test, and clean-up of
everything a test declared."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from yarl import URL

from tests.support.moto import MotoServer
from tests.support.receiver import Receiver, running_receiver

AMQP_URL = os.environ.get("TEST_RABBITMQ_URI", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
def amqp_url() -> str:
    return AMQP_URL


@pytest.fixture
def amqp_port() -> int:
    return URL(AMQP_URL).port or 5672


# Every exchange name a test was given: each role declares ``<exchange>.archive``, the stream
# every event is kept in, whether or not the test asked for clean-up.
NAMED: list[str] = []


@pytest.fixture
def exchange_name() -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    NAMED.append(name)
    return name


@pytest.fixture(scope="session", autouse=True)
def archives_removed() -> Iterator[None]:
    yield
    if NAMED:
        # Nothing was declared on a broker that is not there.
        with contextlib.suppress(ConnectionError, aio_pika.exceptions.AMQPError):
            asyncio.run(delete_declared([f"{name}.archive" for name in NAMED], []))


async def delete_declared(queues: list[str], exchanges: list[str]) -> None:
    """Delete queues and exchanges from the shared broker, even if they hold messages."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        # Deleting what does not exist is no error; a new channel only after one that was.
        ch = await connection.channel()
        for queue in queues:
            try:
                await ch.queue_delete(queue)
            except aio_pika.exceptions.ChannelClosed:
                ch = await connection.channel()
        for exchange in exchanges:
            try:
                await ch.exchange_delete(exchange)
            except aio_pika.exceptions.ChannelClosed:
                ch = await connection.channel()
    finally:
        await connection.close()


class Cleanup:
    """Names to delete after the test; queues and exchanges are removed even if they hold
    messages."""

    def __init__(self) -> None:
        self.queues: set[str] = set()
        self.exchanges: set[str] = set()

    def queue(self, name: str) -> str:
        self.queues.add(name)
        return name

    def exchange(self, name: str) -> str:
        self.exchanges.add(name)
        return name


@pytest.fixture
async def amqp() -> AsyncIterator[AbstractConnection]:
    connection = await aio_pika.connect(AMQP_URL)
    yield connection
    await connection.close()


@pytest.fixture
async def channel(amqp: AbstractConnection) -> AsyncIterator[AbstractChannel]:
    ch = await amqp.channel()
    yield ch
    if not ch.is_closed:
        await ch.close()


# Roles whose queues a test may have declared under its exchange, and retry delays tests use.
ROLES = ("ingest", "webhook", "webhook-errors", "sqs", "pusher", "websocket", "scripted", "noop")
RETRY_SECONDS = (
    *(0.1, 0.125, 0.16, 0.2, 0.25, 0.315, 0.4, 0.5, 0.63, 0.8),
    *(1, 1.2, 1.25, 1.6, 2, 2.5, 3, 3.15, 4, 5, 6.3, 8, 10),
)


@pytest.fixture
async def cleanup(exchange_name: str) -> AsyncIterator[Cleanup]:
    from router.amqp.topology import AdapterQueues, quantize_delay_ms

    names = Cleanup()
    names.exchange(exchange_name)
    names.exchange(f"{exchange_name}.dead")
    names.exchange(f"{exchange_name}.config")
    names.exchange(f"{exchange_name}.status")
    names.queue(f"{exchange_name}.archive")
    names.queue(f"{exchange_name}.ingest.dlq")
    for role in ROLES:
        queues = AdapterQueues.for_role(exchange_name, role)
        names.queue(queues.work)
        names.queue(queues.dlq)
        for seconds in RETRY_SECONDS:
            names.queue(queues.delay(quantize_delay_ms(seconds)))
    yield names
    await delete_declared(sorted(names.queues), sorted(names.exchanges))


BindQueue = Callable[[str], Awaitable[AbstractQueue]]


@pytest.fixture
def bind_queue(channel: AbstractChannel, exchange_name: str, cleanup: Cleanup) -> BindQueue:
    """A user's own queue bound to the exchange with a pattern, as any AMQP client would."""

    async def bind(pattern: str) -> AbstractQueue:
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        name = cleanup.queue(f"{exchange_name}.mine.{uuid.uuid4().hex[:6]}")
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, pattern)
        return queue

    return bind


@pytest.fixture
async def moto() -> AsyncIterator[MotoServer]:
    """A moto_server on loopback, for SQS queues and S3 buckets."""
    server = MotoServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    """Two webhook receivers on loopback."""
    async for first in running_receiver():
        async for second in running_receiver():
            yield first, second
