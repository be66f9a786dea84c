"""The envelope under Hypothesis: any JSON data, any instance name a platform allows, any event
spelling, with or without an id and a time, round-trips through its JSON encoding and through
the AMQP message the router writes, unchanged; ids it assigns are time-ordered UUIDv7; times
are UTC with milliseconds and ``Z``; and bad input is a ``ValueError`` (pydantic's
``ValidationError`` is one), never another exception."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aio_pika
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from router.amqp.codec import decode, encode
from router.amqp.headers import EVENT, EVENT_ID, INSTANCE
from schemas.catalog import CATALOG, EventType, resolve
from schemas.envelope import Envelope, build_envelope
from schemas.ids import event_time_ms, is_event_id
from schemas.instance import instance_word, validate_instance

CANONICAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")

# JSON as orjson reads it: integers within 64 bits (it reads larger ones as floats), finite
# floats, text without lone surrogates (it refuses them).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
instance_names = st.text(
    st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=255
) | st.sampled_from(["Loja Centro", "joão", "client.one", "user@mail.com", "my-instance"])


def spellings(event: EventType) -> list[str]:
    return sorted({event.wire, event.key, event.camel, event.sqs_suffix, *event.alias_keys})


event_spellings = st.sampled_from(CATALOG).flatmap(lambda e: st.sampled_from(spellings(e)))
ulids = st.from_regex(r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}", fullmatch=True)
given_ids = st.uuids().map(str) | ulids
offsets = st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))
# Days inside the calendar's ends, so any offset keeps the instant representable in UTC. A time
# without an offset is UTC.
FIRST, LAST = datetime(2, 1, 1), datetime(9998, 12, 31)
moments = st.datetimes(FIRST, LAST) | st.datetimes(FIRST, LAST, timezones=offsets)
optional_texts = st.none() | st.text(max_size=30)


def spelled(moment: datetime, style: str) -> str:
    if style == "z" and moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    return moment.isoformat(timespec=style if style != "z" else "auto")


def utc_ms(text: str) -> datetime:
    """The instant an envelope should carry for ``text``: UTC (a time without an offset is
    UTC), to the millisecond, cut rather than rounded."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


@given(
    instance=instance_names,
    event=event_spellings,
    data=json_values,
    id=st.none() | given_ids,
    moment=st.none() | moments,
    style=st.sampled_from(["auto", "milliseconds", "seconds", "microseconds", "z"]),
    sender=optional_texts,
    server_url=optional_texts,
    apikey=optional_texts,
    destination=st.none() | st.text(min_size=1, max_size=30),
)
@settings(max_examples=200, deadline=None)  # the first examples build pydantic's validators
def test_an_envelope_round_trips_through_json_and_amqp_unchanged(
    instance: str,
    event: str,
    data: Any,
    id: str | None,
    moment: datetime | None,
    style: str,
    sender: str | None,
    server_url: str | None,
    apikey: str | None,
    destination: str | None,
) -> None:
    before_ms = time.time_ns() // 1_000_000
    date_time = None if moment is None else spelled(moment, style)
    envelope = build_envelope(
        instance,
        event,
        data,
        id=id,
        date_time=date_time,
        sender=sender,
        server_url=server_url,
        apikey=apikey,
    )
    if destination is not None:
        envelope = envelope.with_destination(destination)

    assert envelope.instance == instance  # carried unchanged, whatever its letters
    assert envelope.event == resolve(event).wire
    assert envelope.routing_key == f"{instance_word(instance)}.{envelope.event}"
    assert (envelope.sender, envelope.server_url, envelope.apikey) == (sender, server_url, apikey)

    body = envelope.to_json()
    assert Envelope.from_json(body) == envelope
    assert Envelope.from_json(body).to_json() == body
    assert orjson.loads(body)["data"] == data
    assert ("destination" in orjson.loads(body)) is (destination is not None)
    assert decode(encode(envelope)) == envelope

    if id is None:
        assert uuid.UUID(envelope.id).version == 7
        made = event_time_ms(envelope.id)
        assert made is not None
        # Ids made faster than the clock ticks carry their time a little ahead of it.
        assert before_ms <= made <= time.time_ns() // 1_000_000 + 1000
    else:
        assert envelope.id == id
    assert CANONICAL_TIME.fullmatch(envelope.date_time)
    if date_time is not None:
        carried = datetime.fromisoformat(envelope.date_time.replace("Z", "+00:00"))
        assert carried == utc_ms(date_time)


@given(count=st.integers(2, 50))
def test_ids_the_router_assigns_increase_with_each_envelope(count: int) -> None:
    ids = [build_envelope("i", "call", None).id for _ in range(count)]
    assert ids == sorted(ids)
    assert len(set(ids)) == count
    assert all(uuid.UUID(value).version == 7 for value in ids)


@given(
    instance=st.text(st.characters(exclude_categories=()), max_size=300),
    event=st.text(max_size=30) | event_spellings,
    id=st.none() | st.text(max_size=40) | given_ids,
    date_time=st.none() | st.text(max_size=40) | moments.map(datetime.isoformat),
)
@settings(max_examples=300)
def test_bad_input_is_a_value_error_naming_its_field(
    instance: str, event: str, id: str | None, date_time: str | None
) -> None:
    try:
        envelope = build_envelope(instance, event, None, id=id, date_time=date_time)
    except ValidationError as exc:
        refused = {error["loc"][0] for error in exc.errors()}
    else:
        refused = set()
        assert envelope.instance == validate_instance(instance)
        assert is_event_id(envelope.id)
        assert CANONICAL_TIME.fullmatch(envelope.date_time)
    assert refused <= {"instance", "event", "id", "date_time"}
    assert ("instance" in refused) is not accepted(validate_instance, instance)
    assert ("event" in refused) is not accepted(resolve, event)
    assert ("id" in refused) is (id is not None and not is_event_id(id))


def accepted(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


@given(body=st.binary(max_size=200) | json_values.map(orjson.dumps))
def test_any_body_is_an_envelope_or_a_value_error(body: bytes) -> None:
    try:
        envelope = Envelope.from_json(body)
    except ValueError:
        return
    assert Envelope.from_json(envelope.to_json()) == envelope


numbers = st.integers(-(2**63), 2**63 - 1)
objects = st.fixed_dictionaries(
    {},
    optional={
        "id": st.none() | numbers | given_ids | st.text(max_size=10),
        "event": st.none() | numbers | event_spellings | st.text(max_size=10),
        "instance": st.none() | numbers | instance_names,
        "data": json_values,
        "date_time": st.none() | numbers | st.text(max_size=10),
        "sender": st.none() | numbers | st.text(max_size=10),
    },
)
headers = st.dictionaries(
    st.sampled_from([INSTANCE, EVENT, EVENT_ID]),
    st.text(max_size=20) | instance_names | event_spellings | given_ids,
    max_size=3,
)


@given(body=objects, headers=headers, message_id=st.none() | given_ids | st.text(max_size=10))
def test_a_message_from_any_producer_decodes_to_an_envelope_or_a_value_error(
    body: dict[str, Any], headers: dict[str, str], message_id: str | None
) -> None:
    message = aio_pika.Message(orjson.dumps(body), headers=dict(headers), message_id=message_id)
    try:
        envelope = decode(message)
    except ValueError:
        return
    assert decode(encode(envelope)) == envelope
    assert is_event_id(envelope.id)


@pytest.mark.parametrize("style", ["auto", "milliseconds", "seconds", "microseconds", "z"])
def test_the_time_spellings_the_properties_use_are_iso_8601(style: str) -> None:
    moment = datetime(2026, 11, 25, 7, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-3)))
    parsed = datetime.fromisoformat(spelled(moment, style).replace("Z", "+00:00"))
    assert abs(parsed - moment) < timedelta(seconds=1)
