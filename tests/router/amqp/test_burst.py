"""A burst of publishes on a real broker: every confirm settles as ``basic_publish``'s would (an
ack, a nack, a return, the channel closing), bodies past the frame size arrive whole, and
bursts and aio-pika's own publishes share one channel's delivery tags."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from router.amqp.burst import Outgoing, publish_burst
from router.amqp.codec import decode, encode, outgoing_of
from schemas import build_envelope
from tests.conftest import BindQueue, Cleanup
from tests.support.amqp import depth, next_message


@pytest.fixture
async def confirming(amqp: AbstractConnection) -> AsyncIterator[AbstractChannel]:
    channel = await amqp.channel(publisher_confirms=True)
    yield channel
    if not channel.is_closed:
        await channel.close()


async def underlay(channel: AbstractChannel) -> aiormq.Channel:
    raw = await channel.get_underlay_channel()
    assert isinstance(raw, aiormq.Channel)
    return raw


def message(key: str, body: bytes = b"{}") -> Outgoing:
    return Outgoing(key, body, spec.Basic.Properties(message_id=uuid.uuid4().hex))


async def test_every_publish_is_confirmed_and_arrives_as_encode_makes_it(
    confirming: AbstractChannel, bind_queue: BindQueue, exchange_name: str
) -> None:
    queue = await bind_queue("inst.#")
    envelopes = [build_envelope("inst", "messages.upsert", {"n": n}) for n in range(3)]
    confirmations = await publish_burst(
        await underlay(confirming), exchange_name, [outgoing_of(e) for e in envelopes]
    )
    assert all(isinstance(c, spec.Basic.Ack) for c in await asyncio.gather(*confirmations))
    for envelope in envelopes:
        got = await next_message(queue)
        assert decode(got) == envelope
        expected = encode(envelope)
        for field in ("message_id", "content_type", "delivery_mode", "type", "app_id"):
            assert getattr(got, field) == getattr(expected, field), field
        # The broker's own count of deliveries aside, the headers are encode's.
        assert {k: v for k, v in got.headers.items() if k != "x-delivery-count"} == (
            expected.headers
        )
        assert got.timestamp is not None


async def test_an_unroutable_publish_comes_back_as_the_message(
    confirming: AbstractChannel, channel: AbstractChannel, cleanup: Cleanup, exchange_name: str
) -> None:
    await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    routed = await publish_burst(
        await underlay(confirming), exchange_name, [message("nobody.listens")]
    )
    (result,) = await asyncio.gather(*routed)
    assert isinstance(result, DeliveredMessage)


async def test_a_publish_the_queue_refuses_is_nacked_and_the_rest_are_not(
    confirming: AbstractChannel, channel: AbstractChannel, cleanup: Cleanup, exchange_name: str
) -> None:
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    full: AbstractQueue = await channel.declare_queue(
        cleanup.queue(f"{exchange_name}.full"),
        durable=True,
        # A classic queue: a quorum queue lets one more in before it refuses.
        arguments={"x-queue-type": "classic", "x-max-length": 1, "x-overflow": "reject-publish"},
    )
    await full.bind(exchange, "k")
    raw = await underlay(confirming)
    (first,) = await publish_burst(raw, exchange_name, [message("k")])
    assert isinstance(await first, spec.Basic.Ack)
    # The queue is full now: the next two are refused, each with its own nack.
    refused = await publish_burst(raw, exchange_name, [message("k"), message("k")])
    for confirmation in refused:
        with pytest.raises(aiormq.exceptions.DeliveryError):
            await confirmation
    assert await depth(full) == 1
    assert not raw.confirmations


async def test_a_body_past_the_frame_size_arrives_whole(
    confirming: AbstractChannel, bind_queue: BindQueue, exchange_name: str
) -> None:
    queue = await bind_queue("big")
    raw = await underlay(confirming)
    body = bytes(range(256)) * (3 * raw.max_content_size // 256 + 7)
    (confirmation,) = await publish_burst(raw, exchange_name, [message("big", body)])
    assert isinstance(await confirmation, spec.Basic.Ack)
    assert (await next_message(queue)).body == body


async def test_bursts_and_single_publishes_share_the_channel_s_tags(
    confirming: AbstractChannel, bind_queue: BindQueue, exchange_name: str
) -> None:
    queue = await bind_queue("mix")
    raw = await underlay(confirming)
    exchange = await confirming.get_exchange(exchange_name)
    singles = [
        exchange.publish(aio_pika.Message(b"{}", message_id=uuid.uuid4().hex), "mix")
        for _ in range(5)
    ]
    bursts = [
        publish_burst(raw, exchange_name, [message("mix") for _ in range(4)]) for _ in range(5)
    ]
    # Both kinds started together, so their tags interleave.
    sent = asyncio.gather(*singles)
    confirmations = [c for burst in await asyncio.gather(*bursts) for c in burst]
    await sent
    assert all(isinstance(c, spec.Basic.Ack) for c in await asyncio.gather(*confirmations))
    assert raw.delivery_tag == 25
    assert not raw.confirmations
    assert not raw.message_id_delivery_tag
    await asyncio.sleep(0.2)
    assert await depth(queue) == 25


async def test_the_channel_closing_fails_every_confirm_and_a_closed_one_refuses(
    confirming: AbstractChannel, exchange_name: str
) -> None:
    raw = await underlay(confirming)
    # No such exchange: the broker closes the channel, which fails every pending confirm.
    confirmations = await publish_burst(raw, f"{exchange_name}.missing", [message("k")] * 1)
    with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
        await asyncio.gather(*confirmations)
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await publish_burst(raw, exchange_name, [message("k")])


async def test_a_channel_without_confirms_is_refused(amqp: AbstractConnection) -> None:
    channel = await amqp.channel(publisher_confirms=False)
    try:
        with pytest.raises(ValueError, match="confirm mode"):
            await publish_burst(await underlay(channel), "", [message("k")])
    finally:
        await channel.close()
