"""Queue names from the catalog, shortened deterministically past 80 characters."""

from __future__ import annotations

import re

import pytest

from adapters.sqs.naming import evolution_queue_name, queue_name
from schemas import CATALOG


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("messages.upsert", "my-instance-messages_upsert"),
        ("send.message.update", "my-instance-send_message_update"),
        ("group-participants.update", "my-instance-group_participants_update"),
        ("typebot.change-status", "my-instance-typebot_change_status"),
        ("call", "my-instance-call"),
        ("groups.update", "my-instance-groups_update"),
    ],
)
def test_names_follow_the_catalog(event: str, expected: str) -> None:
    assert queue_name("my-instance", event) == expected
    assert queue_name("my-instance", event, fifo=True) == expected + ".fifo"


def test_every_event_has_a_valid_distinct_name() -> None:
    names = {queue_name("i", e.wire) for e in CATALOG}
    assert len(names) == len(CATALOG)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", n) for n in names)


def test_long_names_are_shortened_deterministically() -> None:
    instance = "x" * 64
    name = queue_name(instance, "group-participants.update")
    assert len(name) == 80
    assert name == queue_name(instance, "group-participants.update")
    assert name != queue_name(instance, "messages.update")
    fifo = queue_name(instance, "group-participants.update", fifo=True)
    assert len(fifo) == 80
    assert fifo.endswith(".fifo")
    assert queue_name("y" * 64, "call") == "y" * 64 + "-call"  # short enough: unchanged


def test_single_queue_mode() -> None:
    assert queue_name("a", "call", single="global-singlequeue") == "global-singlequeue"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("messages.upsert", "shop1_messages_upsert.fifo"),
        ("send.message.update", "shop1_send_message_update.fifo"),
        ("group-participants.update", "shop1_group_participants_update.fifo"),
        ("typebot.change-status", "shop1_typebot_change_status.fifo"),
    ],
)
def test_evolution_names_are_the_queues_evolution_creates(event: str, expected: str) -> None:
    assert evolution_queue_name("shop1", event) == expected
    shared = expected.replace("shop1_", "global_")
    assert evolution_queue_name("other", event, global_prefix="global") == shared
    single = evolution_queue_name("shop1", event, global_prefix="global", single=True)
    assert single == "global_singlequeue.fifo"


def test_evolution_names_are_valid_and_shortened_like_the_others() -> None:
    names = {evolution_queue_name("Loja Centro", e.wire) for e in CATALOG}
    assert len(names) == len(CATALOG)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,75}\.fifo", n) for n in names)
    long = evolution_queue_name("x" * 64, "group-participants.update")
    assert len(long) == 80
    assert long != evolution_queue_name("x" * 64, "messages.update")
