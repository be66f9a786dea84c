"""Many confirmed publishes handed to RabbitMQ as one write: a burst.

aiormq's ``basic_publish`` costs this process about 100 us of CPU per message (its own lock,
timeout, drain future and task for each one), more than the rest of ingest together. A burst
takes the channel's lock once and registers every publish's confirm exactly where
``basic_publish`` registers it (the channel's delivery tag, its confirmations and its message
ids), so the channel settles them the same way: an ack, a nack, a return of an unroutable
message, or the channel closing. Only the writing is shared: every frame of the burst goes to
the connection's writer as one payload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiormq
from aiormq.abc import ChannelFrame, ConfirmationFrameType, DeliveredMessage, FrameType
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

# What a confirm settles to: the broker's ack, or the message when it came back unroutable.
Confirmation = asyncio.Future[ConfirmationFrameType | DeliveredMessage]


@dataclass(frozen=True, slots=True)
class Outgoing:
    routing_key: str
    body: bytes
    properties: spec.Basic.Properties  # with a message_id: returns are matched by it


def frames_of(channel: aiormq.Channel, exchange: str, message: Outgoing) -> list[FrameType]:
    """A publish's frames: the method, the header, and the body cut to the frame size."""
    body = message.body
    step = channel.max_content_size
    return [
        spec.Basic.Publish(exchange=exchange, routing_key=message.routing_key, mandatory=True),
        ContentHeader(properties=message.properties, body_size=len(body)),
        *(ContentBody(body[i : i + step]) for i in range(0, len(body), step)),
    ]


async def publish_burst(
    channel: aiormq.Channel, exchange: str, messages: Sequence[Outgoing]
) -> list[Confirmation]:
    """Publish ``messages`` (mandatory) on a channel in confirm mode; returns each one's
    confirmation, in order. Raises when the channel is closed; if the write cannot be queued
    (cancelled while the connection's buffer is full), nothing was sent and nothing is left
    registered."""
    if not channel.publisher_confirms:
        raise ValueError("a burst needs a channel in confirm mode")
    async with channel.lock:
        if channel.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError(f"{channel!r} closed")
        first = channel.delivery_tag + 1
        confirmations: list[Confirmation] = []
        frames: list[FrameType] = []
        for tag, message in enumerate(messages, start=first):
            confirmation: Confirmation = channel.create_future()
            channel.confirmations[tag] = confirmation
            message_id = message.properties.message_id
            assert message_id, "a burst's messages carry their ids"
            channel.message_id_delivery_tag[message_id] = tag
            confirmation.add_done_callback(_forgetting(channel, message_id, tag))
            confirmations.append(confirmation)
            frames += frames_of(channel, exchange, message)
        channel.delivery_tag += len(messages)
        try:
            await channel.write_queue.put(
                ChannelFrame.marshall(channel_number=channel.number, frames=frames)
            )
        except BaseException:
            # Not sent: the broker never saw these tags, so they are taken back.
            channel.delivery_tag = first - 1
            for tag, confirmation in enumerate(confirmations, start=first):
                channel.confirmations.pop(tag, None)
                confirmation.cancel()
            raise
    return confirmations


def _forgetting(
    channel: aiormq.Channel, message_id: str, tag: int
) -> Callable[[asyncio.Future[Any]], None]:
    """What ``basic_publish`` does once a confirm came: the id no longer names this tag."""

    def forget(_: asyncio.Future[Any]) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            del channel.message_id_delivery_tag[message_id]

    return forget
