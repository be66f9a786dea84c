"""A replay request read and checked before anything is read or sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from router.replay.plan import PlanRefused, ReplayPlan, parse_plan
from schemas import new_event_id
from schemas.ids import event_time_ms

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CHOICES = {"webhook", "sqs", "amqp"}
LABELS = {"crm"}


def plan(**body: object) -> ReplayPlan:
    return parse_plan(body, now=NOW, choices=CHOICES, labels=LABELS)


def refusal(**body: object) -> str:
    with pytest.raises(PlanRefused) as refused:
        plan(**body)
    return str(refused.value)


def test_a_range_with_every_filter() -> None:
    got = plan(
        since="2026-12-03T10:00:00Z",
        until="2026-12-03T11:00:00+01:00",
        instance="Loja Centro",
        events=["MESSAGES_UPSERT", "groups.update", "GROUP_UPDATE"],
        to="webhook:crm",
    )
    assert got.since == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert got.until == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert got.events == frozenset({"messages.upsert", "groups.update"})
    assert got.label == "crm"
    assert got.instance == "Loja Centro"


def test_until_defaults_to_now_and_a_time_without_offset_is_utc() -> None:
    got = plan(since="2026-12-03T10:00:00")
    assert got.since == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert got.until == NOW
    assert got.to is None
    assert got.label is None


def test_event_ids_alone_give_the_range_their_times_imply() -> None:
    first, second = new_event_id(), new_event_id()
    got = parse_plan(
        {"event_ids": [first, second]},
        now=datetime.now(UTC) + timedelta(hours=1),
        choices=CHOICES,
        labels=LABELS,
    )
    made = event_time_ms(first)
    assert made is not None
    assert got.since <= datetime.fromtimestamp(made / 1000, UTC) <= got.until
    assert got.event_ids == frozenset({first, second})


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"since": "2026-12-03T11:00:00Z", "until": "2026-12-03T10:00:00Z"}, "is before 'since'"),
        ({"since": "2026-12-04T10:00:00Z"}, "in the future"),
        ({"since": "yesterday"}, "not an ISO-8601 time"),
        ({"since": 5}, "must be an ISO-8601 time"),
        ({}, "'since' is required"),
        ({"event_ids": ["not-an-id"]}, "is not an event id"),
        ({"since": "2026-12-03T10:00:00Z", "events": ["messages.upsrt"]}, "messages.upsert"),
        ({"since": "2026-12-03T10:00:00Z", "events": []}, "non-empty list"),
        ({"since": "2026-12-03T10:00:00Z", "to": "pusher"}, "amqp, sqs, webhook"),
        ({"since": "2026-12-03T10:00:00Z", "to": "webhook:billing"}, "labels: crm"),
        ({"since": "2026-12-03T10:00:00Z", "instance": ""}, "'instance'"),
        ({"since": "2026-12-03T10:00:00Z", "from": "x"}, "unknown field 'from'"),
    ],
)
def test_refusals_say_what_is_wrong(body: dict[str, object], said: str) -> None:
    assert said in refusal(**body)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PlanRefused, match="JSON object"):
        parse_plan(["since"], now=NOW, choices=CHOICES, labels=LABELS)


def test_wants_checks_every_filter_and_the_range_to_the_second() -> None:
    event_id = new_event_id()
    got = plan(
        since="2026-12-03T10:00:00.700Z",
        until="2026-12-03T10:30:00Z",
        instance="shop",
        events=["call"],
        event_ids=[event_id],
    )
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # archive times are whole seconds
    assert got.wants("shop", "call", event_id, at)
    assert not got.wants("shop", "call", event_id, at - timedelta(seconds=1))
    assert not got.wants("shop", "call", event_id, datetime(2026, 12, 3, 10, 31, tzinfo=UTC))
    assert not got.wants("other", "call", event_id, at)
    assert not got.wants("shop", "messages.upsert", event_id, at)
    assert not got.wants("shop", "call", new_event_id(), at)
