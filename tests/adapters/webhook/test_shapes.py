"""Webhooks in RyzeAPI's and VZaps' shapes, end to end: configured through RyzeAPI's own call or
WEBHOOK_GLOBAL_FORMAT, delivered through RabbitMQ to receivers on loopback, signed the same."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook

from adapters.webhook.adapter import UNSHAPED
from schemas.shapes import PayloadFormat
from tests.conftest import Cleanup
from tests.support import evolution_data as evo
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.receiver import Receiver

AUTH = {"apikey": API_KEY}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
UPSERT = evo.TEXT
TYPING = evo.TYPING


async def post(client: Any, event: str, data: Any) -> str:
    answer = await client.post("/events/shop", json={"event": event, "data": data}, headers=AUTH)
    assert answer.status == 202, await answer.text()
    return str((await answer.json())["id"])


async def test_a_ryzeapi_webhook_gets_message_exchange_in_ryzeapis_shape(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receiver: Receiver
) -> None:
    settings = router_settings(amqp_url, exchange_name, server={"url": "https://router.example"})
    async with running_app(settings) as client:
        made = await client.post(
            "/api/events/webhook/shop",
            json={"url": f"{receiver.base}/ryze", "events": ["message.exchange"]},
            headers=AUTH,
        )
        assert made.status == 201, await made.text()
        received = await post(client, "MESSAGES_UPSERT", UPSERT)
        await post(client, "presence.update", TYPING)  # no RyzeAPI type: not sent
        sent = await post(client, "send.message", UPSERT)
        got = [orjson.loads((await receiver.next()).body) for _ in range(2)]
        with pytest.raises(TimeoutError):
            await receiver.next(timeout=0.5)
    assert [g["id"] for g in got] == [received, sent]
    assert got[0]["instanceData"] == {
        "baseUrl": "https://router.example",
        "instance": "shop",
        "token": "",
    }
    assert [g["event"] for g in got] == ["message.exchange", "message.exchange"]
    assert got[0]["data"]["message"] == {"type": "text", "content": "olá"}
    assert (got[0]["data"]["id"], got[0]["data"]["direction"]) == (
        "3EB0C767D26A1D8F4F1D",
        "incoming",
    )


@pytest.mark.parametrize("payload_format", ["evolution", "ryze", "vzaps"])
async def test_every_shape_is_signed_over_the_bytes_sent(
    amqp_url: str,
    exchange_name: str,
    cleanup: Cleanup,
    receiver: Receiver,
    payload_format: PayloadFormat,
) -> None:
    hook = {
        "global_enabled": True,
        "global_url": f"{receiver.base}/hook",
        "global_format": payload_format,
        "secret": SECRET,
        "event_connection_update": True,
        "event_presence_update": True,
    }
    settings = router_settings(amqp_url, exchange_name, webhook=hook)
    unshaped = UNSHAPED.labels(format=payload_format, event="presence.update")
    before = unshaped._value.get()
    async with running_app(settings) as client:
        await post(client, "presence.update", TYPING)  # VZaps: ChatPresence; RyzeAPI: none
        event_id = await post(client, "connection.update", {"state": "open"})
        bodies = []
        for _ in range(1 if payload_format == "ryze" else 2):
            got = await receiver.next()
            Webhook(SECRET).verify(got.body, got.headers)  # raises when the signature is wrong
            assert got.headers["webhook-id"] == orjson.loads(got.body)["id"]
            bodies.append(orjson.loads(got.body))
    opened = bodies[-1]
    assert opened["id"] == event_id
    if payload_format == "vzaps":
        assert [b["type"] for b in bodies] == ["ChatPresence", "Connected"]
        assert opened["data"] == {"type": "Connected", "event": {}}
        assert opened["instance_id"] == "shop"
    elif payload_format == "ryze":
        assert opened["event"] == "instance.state"
        assert unshaped._value.get() - before == 1
    else:
        assert opened["event"] == "connection.update"
