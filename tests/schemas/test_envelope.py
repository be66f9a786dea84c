import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas.envelope import Envelope, build_envelope
from schemas.instance import instance_word

EXAMPLE: dict[str, Any] = {
    "id": "0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10",
    "event": "messages.upsert",
    "instance": "my-instance",
    "data": {"key": {"remoteJid": "5511999999999@s.whatsapp.net", "fromMe": False, "id": "3EB0"}},
    "destination": "https://example.com/hook/messages-upsert",
    "date_time": "2026-11-25T10:30:00.000Z",
    "sender": "5511999999999@s.whatsapp.net",
    "server_url": "http://localhost:8080",
    "apikey": None,
}
FIELD_ORDER = [
    "id",
    "event",
    "instance",
    "data",
    "destination",
    "date_time",
    "sender",
    "server_url",
    "apikey",
]


def test_design_example_round_trips_byte_for_byte() -> None:
    body = orjson.dumps(EXAMPLE)
    envelope = Envelope.from_json(body)
    assert envelope.to_json() == body
    assert list(orjson.loads(envelope.to_json())) == FIELD_ORDER
    assert envelope.routing_key == "my-instance.messages.upsert"


def test_destination_omitted_when_none_other_nones_kept() -> None:
    envelope = build_envelope("inst", "call", None)
    decoded = orjson.loads(envelope.to_json())
    assert "destination" not in decoded
    assert list(decoded) == [name for name in FIELD_ORDER if name != "destination"]
    assert decoded["data"] is None
    assert decoded["sender"] is None
    assert decoded["server_url"] is None
    assert decoded["apikey"] is None


def test_with_destination_returns_a_copy() -> None:
    envelope = build_envelope("inst", "messages.upsert", {"a": 1})
    addressed = envelope.with_destination("https://example.com/hook/messages-upsert")
    assert envelope.destination is None
    assert addressed.destination == "https://example.com/hook/messages-upsert"
    assert addressed.id == envelope.id
    assert orjson.loads(addressed.to_json())["destination"] == addressed.destination


def test_envelope_is_frozen() -> None:
    envelope = build_envelope("inst", "call", None)
    with pytest.raises(ValidationError):
        envelope.event = "messages.upsert"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("given", "wire"),
    [
        ("MESSAGES_UPSERT", "messages.upsert"),
        ("messagesUpsert", "messages.upsert"),
        ("GROUP_UPDATE", "groups.update"),
        ("groupUpdate", "groups.update"),
        ("qrcodeUpdate", "qrcode.updated"),
        ("stateInstance", "status.instance"),
        ("NEW_TOKEN", "new.jwt"),
        ("new.jwt", "new.jwt"),
    ],
)
def test_event_aliases_are_normalised(given: str, wire: str) -> None:
    envelope = build_envelope("inst", given, None)
    assert envelope.event == wire
    assert envelope.routing_key == f"inst.{wire}"
    assert orjson.loads(envelope.to_json())["event"] == wire


def test_build_assigns_a_fresh_uuid7_and_current_time() -> None:
    first = build_envelope("inst", "call", None)
    second = build_envelope("inst", "call", None)
    assert uuid.UUID(first.id).version == 7
    assert first.id < second.id
    moment = datetime.fromisoformat(first.date_time)
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 1
    assert first.date_time.endswith("Z")


def test_build_keeps_given_values() -> None:
    envelope = build_envelope(
        "inst",
        "call",
        [1, 2],
        id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        date_time="2026-11-25T07:30:00-03:00",
        sender="s",
        server_url="http://localhost:8080",
        apikey="k",
    )
    assert envelope.id == "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert envelope.date_time == "2026-11-25T10:30:00.000Z"
    assert (envelope.data, envelope.sender, envelope.server_url, envelope.apikey) == (
        [1, 2],
        "s",
        "http://localhost:8080",
        "k",
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-25T10:30:00", "2026-11-25T10:30:00.000Z"),
        ("2026-11-25T07:30:00.25-03:00", "2026-11-25T10:30:00.250Z"),
        ("2026-11-25T10:30:00Z", "2026-11-25T10:30:00.000Z"),
    ],
)
def test_times_are_normalised_to_utc_with_milliseconds(given: str, expected: str) -> None:
    envelope = Envelope.from_json(orjson.dumps({**EXAMPLE, "date_time": given}))
    assert envelope.date_time == expected


def test_missing_date_time_defaults_to_now() -> None:
    body = {key: value for key, value in EXAMPLE.items() if key != "date_time"}
    envelope = Envelope.from_json(orjson.dumps(body))
    moment = datetime.fromisoformat(envelope.date_time)
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 1


def test_extra_fields_from_other_producers_are_ignored() -> None:
    envelope = Envelope.from_json(orjson.dumps({**EXAMPLE, "owner": "x", "local": True}))
    assert "owner" not in orjson.loads(envelope.to_json())


def test_optional_fields_may_be_absent() -> None:
    body = {"id": EXAMPLE["id"], "event": "call", "instance": "i"}
    envelope = Envelope.from_json(orjson.dumps(body))
    assert envelope.data is None
    assert envelope.sender is None
    assert envelope.destination is None


def error_text(excinfo: pytest.ExceptionInfo[ValidationError], field: str) -> str:
    errors = excinfo.value.errors()
    assert [error["loc"] for error in errors] == [(field,)]
    return str(errors[0]["msg"])


def test_bad_instance_rejected_naming_the_character() -> None:
    with pytest.raises(ValidationError) as caught:
        build_envelope("my\ninst", "call", None)
    assert "control character '\\n' at position 2" in error_text(caught, "instance")


def test_any_name_evolution_accepts_is_carried_unchanged_and_routed_by_its_word() -> None:
    envelope = build_envelope("Loja Centro", "call", None)
    assert envelope.instance == "Loja Centro"
    assert orjson.loads(envelope.to_json())["instance"] == "Loja Centro"
    assert envelope.routing_key == f"{instance_word('Loja Centro')}.call"
    assert build_envelope("my-inst", "call", None).routing_key == "my-inst.call"


def test_unknown_event_rejected_with_suggestions() -> None:
    with pytest.raises(ValidationError) as caught:
        build_envelope("inst", "mesages.upsert", None)
    message = error_text(caught, "event")
    assert "unknown event 'mesages.upsert'; did you mean: messages.upsert" in message


@pytest.mark.parametrize("bad_id", ["42", "", "0193b0c27c1e7a4e9f4e2b1d8c1e5a10"])
def test_bad_id_rejected(bad_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build_envelope("inst", "call", None, id=bad_id)
    message = error_text(caught, "id")
    assert f"id {bad_id!r} is not an event id" in message


def test_bad_date_time_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        build_envelope("inst", "call", None, date_time="tomorrow")
    assert "date_time 'tomorrow' is not valid" in error_text(caught, "date_time")


@pytest.mark.parametrize("missing", ["id", "event", "instance"])
def test_required_fields(missing: str) -> None:
    body = {key: value for key, value in EXAMPLE.items() if key != missing}
    with pytest.raises(ValidationError) as caught:
        Envelope.from_json(orjson.dumps(body))
    assert caught.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b'"text"', "must be a JSON object, not str"),
        (b"null", "must be a JSON object, not NoneType"),
    ],
)
def test_from_json_rejects_non_objects(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Envelope.from_json(body)
    assert not isinstance(caught.value, ValidationError)


def test_an_event_newer_than_the_catalog_is_carried_under_its_own_name() -> None:
    body = orjson.dumps({"id": str(uuid.uuid4()), "event": "creds.update", "instance": "inst"})
    assert Envelope.from_json(body).event == "creds.update"
    built = build_envelope("inst", "creds.update", None, uncatalogued=True)
    assert built.routing_key == "inst.creds.update"
    with pytest.raises(ValidationError):
        build_envelope("inst", "creds.update", None)  # new events are catalog events


@pytest.mark.parametrize("event", ["inst.#", "Creds.Update", "creds..update", "*", "a" * 65, ""])
def test_a_name_that_is_not_of_the_wire_form_is_refused(event: str) -> None:
    body = orjson.dumps({"id": str(uuid.uuid4()), "event": event, "instance": "inst"})
    with pytest.raises(ValidationError):
        Envelope.from_json(body)
