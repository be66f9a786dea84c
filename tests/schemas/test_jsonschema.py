import json
import re

from schemas.catalog import WIRE_NAMES
from schemas.instance import INSTANCE_NAME_PATTERN
from schemas.jsonschema import SCHEMA_PATH, envelope_schema, render


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.is_file(), "schema file missing; run `python -m schemas.jsonschema`"
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == render(), (
        "schemas/envelope.schema.json is stale; run `python -m schemas.jsonschema`"
    )


def test_render_is_stable_json() -> None:
    text = render()
    assert text.endswith("}\n")
    assert render() == text
    assert json.loads(text) == envelope_schema()
    assert '\n  "$id": ' in text


def test_event_examples_are_the_catalog_and_all_match_the_pattern() -> None:
    event = envelope_schema()["properties"]["event"]
    assert event["examples"] == list(WIRE_NAMES)
    assert all(re.fullmatch(event["pattern"], wire) for wire in WIRE_NAMES)
    assert re.fullmatch(event["pattern"], "creds.update")
    assert not re.fullmatch(event["pattern"], "inst.#")


def test_header_and_required_fields() -> None:
    schema = envelope_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert schema["type"] == "object"
    assert schema["required"] == ["id", "event", "instance"]
    assert list(schema["properties"]) == [
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
    assert schema["properties"]["instance"]["pattern"] == INSTANCE_NAME_PATTERN
