"""The wire format of an event, both ways, without a broker: what the router writes, and what
it reads from producers that publish to the exchange themselves."""

from __future__ import annotations

import aio_pika
import orjson
import pytest

from router.amqp.codec import APP_ID, as_sent, decode, encode, original_id, target_of
from router.amqp.headers import EVENT_ID, TARGET
from schemas import build_envelope

BODY = b'{"instance":"shop","event":"messages.upsert","data":{}}'


def test_an_envelope_goes_out_persistent_with_its_id_and_routing_headers() -> None:
    envelope = build_envelope("shop", "messages.upsert", {"n": 1})
    message = encode(envelope, {"x-extra": 1})
    assert message.body == envelope.to_json()
    assert message.message_id == envelope.id
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (message.app_id, message.type) == (APP_ID, "messages.upsert")
    assert message.headers == {"instance": "shop", "event": "messages.upsert", "x-extra": 1}
    assert decode(message) == envelope
    assert as_sent(message, envelope)


def test_a_foreign_message_gets_its_missing_fields_from_its_properties() -> None:
    message = aio_pika.Message(
        b'{"data": {"n": 2}}',
        message_id="01a23797-8e80-7685-a630-9cc0eb4d1b9e",
        headers={"instance": "shop", "event": "call"},
    )
    envelope = decode(message)
    assert (envelope.id, envelope.instance, envelope.event) == (
        "01a23797-8e80-7685-a630-9cc0eb4d1b9e",
        "shop",
        "call",
    )
    assert not as_sent(message, envelope)  # not the router's encoding: re-encoded to pass on


def test_an_event_without_any_id_gets_the_same_id_it_always_got() -> None:
    # Derived from the body: the same on every adapter, every retry and every release (this
    # value was derived by the release before this codec; messages may wait across upgrades).
    first = decode(aio_pika.Message(BODY, message_id="not-an-event-id"))
    assert first.id == "f7ab60a2-c158-8d23-9de8-5a3403567882"
    assert decode(aio_pika.Message(BODY)).id == first.id


def test_a_copy_keeps_its_events_id_in_a_header() -> None:
    event_id = "01a23797-8e80-7685-a630-9cc0eb4d1b9e"
    copy = aio_pika.Message(
        BODY, message_id=f"{event_id}:retry:abc", headers={EVENT_ID: event_id, TARGET: b"sub-1"}
    )
    assert decode(copy).id == event_id
    assert original_id(copy) == event_id
    assert target_of(copy) == "sub-1"
    assert original_id(aio_pika.Message(BODY, message_id="m-1")) == "m-1"
    assert target_of(aio_pika.Message(BODY)) is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "body is not JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (orjson.dumps({"event": "call", "data": {}}), "instance"),
    ],
)
def test_what_is_not_an_envelope_is_refused_with_the_reason(body: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        decode(aio_pika.Message(body))
