"""The adapter runtime against the real broker: acks, broker-side retries through TTL queues,
the attempt count, the DLQ with its reason, poison bodies, and replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue

from router.amqp.broker import Broker
from router.amqp.codec import encode
from router.amqp.headers import ATTEMPTS, LAST_ERROR, REASON
from router.amqp.publisher import Publisher
from router.amqp.topology import AdapterQueues, Topology, quantize_delay_ms
from router.delivery import dlq
from router.delivery.adapter import (
    Dead,
    Delivered,
    Delivery,
    Outcome,
    PerTarget,
    Retry,
    RetryPolicy,
    Skipped,
)
from router.delivery.consumer import Consumer
from schemas import build_envelope, is_event_id
from tests.conftest import Cleanup
from tests.support.adapter import ScriptedAdapter
from tests.support.amqp import depth, next_message


class Harness:
    """A broker connection running one consumer and a publisher, as an adapter role does."""

    def __init__(self, url: str, exchange: str, adapter: ScriptedAdapter, cleanup: Cleanup) -> None:
        self.adapter = adapter
        self.queues = AdapterQueues.for_role(exchange, adapter.name)
        for name in (self.queues.work, self.queues.dlq):
            cleanup.queue(name)
        for seconds in (0.1, 0.2, 0.5, 1.0, 1.2):
            cleanup.queue(self.queues.delay(quantize_delay_ms(seconds)))
        self.broker = Broker(url, name="test-consumer")
        self.consumer = Consumer(self.broker, adapter, exchange, prefetch=8)
        self.publisher = Publisher(self.broker, Topology(exchange=exchange))
        self.broker.add_setup(self.consumer.setup)
        self.broker.add_setup(self.publisher.setup)

    async def __aenter__(self) -> Harness:
        await self.broker.start()
        await self.broker.wait_ready(15)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop(5)
        await self.broker.close()


@pytest.fixture
def harness(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> Callable[[ScriptedAdapter], Harness]:
    return lambda adapter: Harness(amqp_url, exchange_name, adapter, cleanup)


async def dlq_queue(channel: AbstractChannel, queues: AdapterQueues) -> AbstractQueue:
    return await channel.declare_queue(queues.dlq, passive=True)


async def test_delivered_events_are_acked(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel
) -> None:
    adapter = ScriptedAdapter()
    async with harness(adapter) as h:
        sent = await h.publisher.publish("inst", "messages.upsert", {"n": 1})
        delivery = await adapter.next()
        assert delivery.envelope == sent
        assert delivery.attempt == 1
        await asyncio.sleep(0.2)  # let the ack reach the broker before counting
        work = await channel.declare_queue(h.queues.work, passive=True)
        assert await depth(work) == 0


async def test_queue_is_bound_only_to_the_adapters_keys(
    harness: Callable[[ScriptedAdapter], Harness],
) -> None:
    adapter = ScriptedAdapter(keys=frozenset({"*.call", "vip.#"}))
    async with harness(adapter) as h:
        await h.publisher.publish("a", "messages.upsert", {})
        await h.publisher.publish("a", "call", {})
        await h.publisher.publish("vip", "chats.set", {})
        got = {(await adapter.next()).envelope.routing_key for _ in range(2)}
        assert got == {"a.call", "vip.chats.set"}
        with pytest.raises(TimeoutError):
            await adapter.next(timeout=0.5)


async def test_retry_waits_in_a_ttl_queue_and_comes_back_with_the_attempt_raised(
    harness: Callable[[ScriptedAdapter], Harness], amqp: AbstractConnection
) -> None:
    def decide(d: Delivery) -> Outcome:
        return Retry("receiver said 503", delay=1.0, status=503) if d.attempt == 1 else Delivered()

    adapter = ScriptedAdapter(decide=decide)
    async with harness(adapter) as h:
        sent = await h.publisher.publish("inst", "call", {"ring": True})
        first = await adapter.next()
        first_at = time.monotonic()
        retry_name = h.queues.delay(quantize_delay_ms(1.0))
        async with asyncio.timeout(1):
            while True:  # the retry queue is declared on first use, then holds the copy
                channel = await amqp.channel()
                try:
                    retry = await channel.declare_queue(retry_name, passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    continue
                if await depth(retry) == 1:
                    break
        second = await adapter.next(timeout=5)
        waited = time.monotonic() - first_at
    assert first.attempt == 1
    assert second.attempt == 2
    assert second.envelope.id == sent.id
    assert second.headers[LAST_ERROR] == "receiver said 503"
    assert 0.8 <= waited < 4


async def test_after_the_last_attempt_the_event_is_dead_lettered_with_its_error(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel
) -> None:
    adapter = ScriptedAdapter(
        decide=lambda d: Retry(f"timeout on try {d.attempt}", delay=0.1),
        policy=RetryPolicy(max_attempts=3, initial_delay=0.1, jitter=0),
    )
    async with harness(adapter) as h:
        sent = await h.publisher.publish("inst", "call", {})
        attempts = [(await adapter.next()).attempt for _ in range(3)]
        dead = await next_message(await dlq_queue(channel, h.queues))
    assert attempts == [1, 2, 3]
    assert (dead.headers or {})["x-router-event-id"] == sent.id
    assert orjson.loads(dead.body)["id"] == sent.id
    headers = dead.headers or {}
    assert headers[ATTEMPTS] == 3
    assert headers[REASON] == "gave up after 3 attempts: timeout on try 3"


async def test_dead_outcome_goes_to_the_dlq_at_once(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel
) -> None:
    adapter = ScriptedAdapter(
        decide=lambda _: Dead("HTTP 404 is not retried", destination="http://x/hook", status=404)
    )
    async with harness(adapter) as h:
        await h.publisher.publish("inst", "call", {})
        await adapter.next()
        dead = await next_message(await dlq_queue(channel, h.queues))
    headers = dead.headers or {}
    assert headers[REASON] == "HTTP 404 is not retried"
    assert headers[ATTEMPTS] == 1
    assert headers["x-router-destination"] == "http://x/hook"
    assert headers["x-router-last-status"] == 404
    assert len(adapter.deliveries) == 1


async def test_an_adapter_exception_is_retried_not_fatal(
    harness: Callable[[ScriptedAdapter], Harness],
) -> None:
    def decide(d: Delivery) -> Outcome:
        if d.attempt == 1:
            raise ConnectionResetError("peer reset")
        return Delivered()

    adapter = ScriptedAdapter(decide=decide)
    async with harness(adapter) as h:
        await h.publisher.publish("inst", "call", {})
        await adapter.next()
        second = await adapter.next(timeout=5)
    assert second.attempt == 2
    assert "ConnectionResetError: peer reset" in second.headers[LAST_ERROR]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00not json", "invalid envelope: body is not JSON"),
        (b"[1, 2]", "invalid envelope: body must be a JSON object"),
        (b'{"event": "No such", "instance": "inst", "data": {}}', "unknown event 'No such'"),
        (b'{"event": "call", "instance": "in\\nst", "data": {}}', "control character"),
    ],
)
async def test_poison_bodies_go_to_the_dlq_and_consuming_goes_on(
    harness: Callable[[ScriptedAdapter], Harness],
    channel: AbstractChannel,
    exchange_name: str,
    body: bytes,
    reason: str,
) -> None:
    adapter = ScriptedAdapter()
    async with harness(adapter) as h:
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(aio_pika.Message(body, message_id="poison-1"), "inst.call")
        good = await h.publisher.publish("inst", "call", {"after": "poison"})
        assert (await adapter.next()).envelope.id == good.id
        dead = await next_message(await dlq_queue(channel, h.queues))
    assert dead.body == body
    assert reason in str((dead.headers or {})[REASON])
    assert len(adapter.deliveries) == 1


async def test_envelope_published_straight_to_the_exchange_is_accepted(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel, exchange_name: str
) -> None:
    # Evolution's own RabbitMQ body: no id; the runtime derives one from the body, the same
    # on every delivery, so receivers can still de-duplicate.
    body = orjson.dumps(
        {
            "event": "messages.upsert",
            "instance": "evo",
            "data": {"k": 1},
            "server_url": "http://evo",
            "date_time": "2026-11-25T10:30:00.000Z",
            "sender": None,
            "apikey": None,
        }
    )
    adapter = ScriptedAdapter()
    async with harness(adapter) as h:
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for _ in range(2):
            await exchange.publish(aio_pika.Message(body), "evo.messages.upsert")
        first, second = await adapter.next(), await adapter.next()
        assert h.queues.work
    assert first.envelope.id == second.envelope.id
    assert is_event_id(first.envelope.id)
    assert first.envelope.data == {"k": 1}


async def test_skipped_events_are_acked_without_retry(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel
) -> None:
    adapter = ScriptedAdapter(decide=lambda _: Skipped("no subscription wants it"))
    async with harness(adapter) as h:
        await h.publisher.publish("inst", "call", {})
        await adapter.next()
        with pytest.raises(TimeoutError):
            await adapter.next(timeout=0.5)
        assert await depth(await dlq_queue(channel, h.queues)) == 0


async def test_dlq_list_replay_and_purge(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel, amqp_url: str
) -> None:
    healthy = asyncio.Event()

    def decide(d: Delivery) -> Outcome:
        return Delivered() if healthy.is_set() else Dead("receiver gone")

    adapter = ScriptedAdapter(decide=decide)
    async with harness(adapter) as h:
        sent = [await h.publisher.publish("inst", "call", {"n": i}) for i in range(3)]
        for _ in range(3):
            await adapter.next()
        dead_q = await dlq_queue(channel, h.queues)
        async with asyncio.timeout(5):
            while await depth(dead_q) < 3:
                await asyncio.sleep(0.05)

        listed = await dlq.list_messages(amqp_url, h.queues.dlq)
        assert sorted(d.id or "" for d in listed) == sorted(e.id for e in sent)
        assert {d.reason for d in listed} == {"receiver gone"}
        # Listing leaves them in place: handed back when its channel closes (the quorum queue
        # takes them back a moment later).
        async with asyncio.timeout(5):
            while await depth(dead_q) < 3:
                await asyncio.sleep(0.05)

        healthy.set()
        assert await dlq.replay(amqp_url, h.queues.dlq, limit=2) == 2
        replayed = [await adapter.next() for _ in range(2)]
        assert {d.attempt for d in replayed} == {1}
        assert {d.envelope.id for d in replayed} <= {e.id for e in sent}
        assert REASON not in replayed[0].headers

        assert await dlq.purge(amqp_url, h.queues.dlq) == 1
        assert await depth(dead_q) == 0


async def test_replay_refuses_a_queue_that_is_not_a_dlq(amqp_url: str) -> None:
    with pytest.raises(ValueError, match=r"\.dlq"):
        await dlq.replay(amqp_url, "some.queue")


async def test_each_outcome_is_one_json_log_line_with_the_delivery_fields(
    harness: Callable[[ScriptedAdapter], Harness], capfd: pytest.CaptureFixture[str]
) -> None:
    import structlog

    from router.logging import configure

    configure(level="INFO", fmt="json")
    try:
        adapter = ScriptedAdapter(
            decide=lambda d: (
                Retry("503 from receiver", delay=0.1, destination="https://crm/hook")
                if d.attempt == 1
                else Delivered(destination="https://crm/hook", status=200)
            )
        )
        async with harness(adapter) as h:
            sent = await h.publisher.publish("inst", "messages.upsert", {})
            await adapter.next()
            await adapter.next(timeout=5)
            await asyncio.sleep(0.2)  # the delivered line is written after the ack
        lines = [orjson.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    finally:
        structlog.reset_defaults()
    deliveries = [x for x in lines if x.get("message") == "delivery"]
    assert [x["outcome"] for x in deliveries] == ["retry", "delivered"]
    for attempt, line in enumerate(deliveries, start=1):
        assert line["event_id"] == sent.id
        assert line["instance"] == "inst"
        assert line["event"] == "messages.upsert"
        assert line["destination"] == "https://crm/hook"
        assert line["attempt"] == attempt
    assert deliveries[0]["error"] == "503 from receiver"
    assert deliveries[1]["status"] == 200


async def test_a_nonsense_delay_falls_back_to_the_policy(
    harness: Callable[[ScriptedAdapter], Harness],
) -> None:
    adapter = ScriptedAdapter(
        decide=lambda d: (
            Retry("bad Retry-After", delay=float("nan")) if d.attempt == 1 else Delivered()
        )
    )
    async with harness(adapter) as h:
        await h.publisher.publish("inst", "call", {})
        await adapter.next()
        assert (await adapter.next(timeout=5)).attempt == 2


async def test_a_retry_queue_declared_differently_is_used_without_reconnecting(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel
) -> None:
    adapter = ScriptedAdapter(
        decide=lambda d: Retry("again", delay=0.2) if d.attempt == 1 else Delivered()
    )
    async with harness(adapter) as h:
        # An older deployment left this queue with other arguments.
        queues = h.queues
        await channel.declare_queue(
            queues.delay(200),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": 200,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queues.work,
            },
        )
        await h.publisher.publish("inst", "call", {})
        await adapter.next()
        assert (await adapter.next(timeout=5)).attempt == 2
        assert h.broker.connects == 1


async def test_consuming_resumes_after_the_work_queue_is_deleted(
    harness: Callable[[ScriptedAdapter], Harness], amqp: AbstractConnection
) -> None:
    adapter = ScriptedAdapter()
    async with harness(adapter) as h:
        await h.publisher.publish("inst", "call", {"n": 1})
        await adapter.next()
        ch = await amqp.channel()
        await ch.queue_delete(h.queues.work)
        async with asyncio.timeout(10):
            while h.broker.connects < 2 or not h.broker.ready:
                await asyncio.sleep(0.05)
        await h.publisher.publish("inst", "call", {"n": 2})
        assert (await adapter.next()).envelope.data == {"n": 2}


async def test_several_targets_fail_and_retry_independently(
    harness: Callable[[ScriptedAdapter], Harness], channel: AbstractChannel
) -> None:
    def decide(d: Delivery) -> Outcome:
        if d.target is None:
            return PerTarget(
                {
                    "crm": Delivered(destination="http://crm"),
                    "bi": Retry("bi is down", delay=0.1, destination="http://bi"),
                    "old": Dead("HTTP 410", destination="http://old", status=410),
                }
            )
        return Delivered(destination=f"http://{d.target}")

    adapter = ScriptedAdapter(decide=decide)
    async with harness(adapter) as h:
        sent = await h.publisher.publish("inst", "call", {})
        first = await adapter.next()
        second = await adapter.next(timeout=5)
        with pytest.raises(TimeoutError):
            await adapter.next(timeout=0.5)
        dead = await next_message(await dlq_queue(channel, h.queues))
    assert first.target is None
    assert (second.target, second.attempt, second.envelope.id) == ("bi", 2, sent.id)
    headers = dead.headers or {}
    assert headers["x-router-target"] == "old"
    assert headers[REASON] == "HTTP 410"


async def test_deferrals_spend_no_attempt(harness: Callable[[ScriptedAdapter], Harness]) -> None:
    adapter = ScriptedAdapter(
        decide=lambda d: (
            Retry("endpoint busy", delay=0.1, counts=False)
            if d.headers.get("x-router-deferrals", 0) < 2
            else Delivered()
        ),
        policy=RetryPolicy(max_attempts=1, initial_delay=0.1, jitter=0),
    )
    async with harness(adapter) as h:
        await h.publisher.publish("inst", "call", {})
        seen = [await adapter.next(timeout=5) for _ in range(3)]
    assert [d.attempt for d in seen] == [1, 1, 1]
    assert seen[2].headers["x-router-deferrals"] == 2


async def test_retry_queues_of_an_earlier_release_are_emptied_into_the_work_queue(
    harness: Callable[[ScriptedAdapter], Harness],
    channel: AbstractChannel,
    cleanup: Cleanup,
    exchange_name: str,
) -> None:
    """An upgrade finds events parked in the expiring retry queues of the release before; they
    are moved to the work queue at once, not left to the queue's expiry."""
    work = AdapterQueues.for_role(exchange_name, "scripted").work
    legacy = cleanup.queue(AdapterQueues.for_role(exchange_name, "scripted").legacy_retry(1000))
    await channel.declare_queue(
        legacy,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-message-ttl": 600_000,  # far beyond the test: only the drain can move them
            "x-expires": 2 * 1000 + 120_000,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": work,
        },
    )
    envelopes = [build_envelope("inst", "call", {"n": n}) for n in range(3)]
    for envelope in envelopes:
        await channel.default_exchange.publish(encode(envelope), legacy)
    adapter = ScriptedAdapter()
    async with harness(adapter):
        got = {(await adapter.next(timeout=10)).envelope.id for _ in envelopes}
        left = await channel.declare_queue(legacy, passive=True)
        assert await depth(left) == 0
    assert got == {e.id for e in envelopes}
