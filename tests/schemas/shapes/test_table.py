"""The table of each catalog event's type in RyzeAPI and VZaps: complete, derived, documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas import CATALOG
from schemas.shapes import SHAPES, markdown_table, platform_type, types_of, wires_of
from tests.support import evolution_data as evo


def test_every_row_is_a_catalog_event_once() -> None:
    wires = [row.wire for row in SHAPES]
    assert len(wires) == len(set(wires))
    assert set(wires) <= {event.wire for event in CATALOG}


def test_the_platforms_types_are_those_their_consumers_know() -> None:
    assert types_of("ryze") == (
        "message.exchange",
        "message.status",
        "call.update",
        "group.flow",
        "instance.state",
        "label.update",
    )
    assert set(types_of("vzaps")) == {
        "Message",
        "ReadReceipt",
        "Presence",
        "ChatPresence",
        "HistorySync",
        "Connected",
        "Disconnected",
        "GroupParticipantsAdd",
        "GroupParticipantsRemove",
    }
    assert wires_of("ryze", "message.exchange") == (
        "messages.upsert",
        "send.message",
        "messages.edited",
        "messages.delete",
    )
    assert wires_of("ryze", "message.status") == ("messages.update", "send.message.update")
    assert wires_of("vzaps", "Connected") == ("connection.update",)


@pytest.mark.parametrize(
    ("event", "data", "vzaps"),
    [
        ("connection.update", evo.OPEN, "Connected"),
        ("connection.update", evo.LOGGED_OUT, "Disconnected"),
        ("connection.update", evo.CONNECTING, None),
        ("group-participants.update", evo.ADDED, "GroupParticipantsAdd"),
        ("group-participants.update", evo.REMOVED, "GroupParticipantsRemove"),
        ("group-participants.update", evo.PROMOTED, None),
        ("presence.update", evo.TYPING, "ChatPresence"),
        ("presence.update", evo.RECORDING, "ChatPresence"),
        ("presence.update", evo.ONLINE, "Presence"),
        ("presence.update", {}, None),
        ("messages.update", evo.READ, "ReadReceipt"),
        ("messages.update", evo.DELIVERED, "ReadReceipt"),
        ("messages.update", evo.SERVER_ACK, None),
        ("messages.upsert", evo.TEXT, "Message"),
        ("call", evo.CALL, None),
        ("contacts.update", [], None),
    ],
)
def test_vzaps_types_follow_the_data(event: str, data: Any, vzaps: str | None) -> None:
    assert platform_type("vzaps", event, data) == vzaps


@pytest.mark.parametrize(
    ("data", "ryze"),
    [
        (evo.READ, "message.status"),
        (evo.DELIVERED, "message.status"),
        ({**evo.READ, "status": "PLAYED"}, "message.status"),
        (evo.SERVER_ACK, None),  # whatsmeow has no receipt for the server's ack
        ({**evo.READ, "status": "DELETED"}, None),
        ({**evo.READ, "status": 3}, None),
    ],
)
def test_ryze_statuses_follow_the_data(data: Any, ryze: str | None) -> None:
    assert platform_type("ryze", "messages.update", data) == ryze


def test_the_readme_shows_the_table_as_it_is() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
