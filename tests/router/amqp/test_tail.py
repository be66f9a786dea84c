"""What ``router tail`` prints for an event: a line in a terminal, JSON otherwise."""

from __future__ import annotations

import orjson
from rich.console import Console

from router.amqp.tail import line_of, render
from schemas import build_envelope


def plain(markup: str) -> str:
    """The line as a terminal without colour shows it."""
    console = Console(width=200, color_system=None, record=True)
    console.print(markup, highlight=False)
    return console.export_text().rstrip("\n")


def test_an_event_is_one_line_with_its_time_instance_event_and_id() -> None:
    envelope = build_envelope("Loja [Centro]", "messages.upsert", {"n": 1})
    line = plain(render(envelope.to_json(), "line"))
    clock = envelope.date_time.partition("T")[2][:12]
    assert line == f"{clock} Loja [Centro] messages.upsert {envelope.id}"


def test_json_is_the_body_on_one_line_and_pretty_indents_it() -> None:
    body = build_envelope("inst", "call", {"n": 1}).to_json()
    assert orjson.loads(render(body, "json")) == orjson.loads(body)
    assert "\n" not in render(body, "json")
    assert render(body, "pretty").count("\n") > 3


def test_what_is_not_an_event_is_shown_as_it_came() -> None:
    assert plain(render(b"not json [x]", "line")) == "not json [x]"
    assert plain(render(b'{"a": [1]}', "line")) == '{"a":[1]}'
    assert render(b"not json", "json") == "not json"
    assert line_of([1, 2]) is None
    assert line_of({"instance": "i", "event": 3, "id": "x"}) is None
