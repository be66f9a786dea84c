"""The fault suite at CI size, on RabbitMQ nodes of its own: every accepted event arrives, a
duplicate only ever under its own id, and the router refuses no longer than the fault lasts.

Each scenario would have failed on the release before: the slow receiver outlives the
retry queues' old expiry, and the receiver that is down outlives a failed breaker probe."""

from __future__ import annotations

from tests.reliability.scenarios import (
    CI,
    POISON,
    Outcome,
    broker_restart,
    channel_role_killed,
    cluster_node_loss,
    endpoint_flapping,
    memory_alarm,
    poison_messages,
    receiver_down,
    role_killed,
    slow_receiver,
)

# From the broker answering again to ingest accepting again.
RECOVERY = 2.0


def assert_nothing_lost(outcome: Outcome) -> None:
    row = outcome.row
    assert row.accepted > 0, row
    assert outcome.drained, row
    assert row.lost == 0, row
    assert row.delivered == row.accepted, row
    assert row.duplicates_new_id == 0, row
    assert row.unexpected == 0, row


async def test_a_slow_receiver_loses_nothing_past_any_queue_expiry() -> None:
    outcome = await slow_receiver(CI)
    assert_nothing_lost(outcome)
    assert outcome.row.accepted == CI.slow_events
    assert outcome.dead_letters == 0
    # The burst takes longer than the 122 s after which the old retry queues were deleted.
    assert outcome.row.drain_seconds is not None
    assert outcome.row.drain_seconds > 125


async def test_a_receiver_down_past_the_longest_retry_delay_gets_everything_after() -> None:
    outcome = await receiver_down(CI)
    assert_nothing_lost(outcome)
    assert outcome.dead_letters == 0
    assert outcome.fault_seconds >= CI.receiver_down
    # The breaker opened and its probes failed several times, and still it closed again.
    assert outcome.notes["behind_breaker"] > 0


async def test_a_broker_restart_refuses_no_longer_than_it_lasts() -> None:
    outcome = await broker_restart(CI)
    assert_nothing_lost(outcome)
    window = outcome.row.failure_window
    assert window is not None  # the outage was seen
    assert window <= outcome.fault_seconds + RECOVERY, outcome.row


async def test_ingest_killed_loses_nothing() -> None:
    assert_nothing_lost(await role_killed(CI, "ingest"))


async def test_the_webhook_role_killed_loses_nothing() -> None:
    outcome = await role_killed(CI, "webhook")
    assert_nothing_lost(outcome)
    assert outcome.dead_letters == 0


async def test_the_sqs_role_killed_loses_nothing() -> None:
    outcome = await channel_role_killed(CI, "sqs")
    assert_nothing_lost(outcome)
    assert outcome.dead_letters == 0


async def test_the_pusher_role_killed_loses_nothing() -> None:
    outcome = await channel_role_killed(CI, "pusher")
    assert_nothing_lost(outcome)
    assert outcome.dead_letters == 0


async def test_a_memory_alarm_is_refused_at_once_and_loses_nothing() -> None:
    outcome = await memory_alarm(CI)
    assert_nothing_lost(outcome)
    assert outcome.ready_during is not None
    status, body = outcome.ready_during
    assert status == 503
    assert "blocked" in str(body)
    assert outcome.ready_after is not None
    assert outcome.ready_after[0] == 200
    assert outcome.row.longest_request < 1.0, outcome.row
    assert outcome.row.unavailable > 0  # it was refused, not left hanging


async def test_a_cluster_losing_its_connected_node_fails_over() -> None:
    outcome = await cluster_node_loss(CI)
    assert_nothing_lost(outcome)
    assert outcome.dead_letters == 0
    # Each failover within the recovery time, however long the nodes stayed down. (RabbitMQ
    # may refuse publishes for a few seconds more while a quorum queue elects a leader: those
    # are answered 503 with their id and resent, so they count in the 503 window, not here.)
    assert outcome.notes["longest_unready"] <= RECOVERY, outcome


async def test_poison_messages_go_to_the_dlq_and_the_rest_flows() -> None:
    outcome = await poison_messages(CI)
    assert_nothing_lost(outcome)
    assert outcome.dead_letters == 4 * len(POISON)


async def test_a_flapping_receiver_loses_nothing() -> None:
    outcome = await endpoint_flapping(CI)
    assert_nothing_lost(outcome)
    assert outcome.dead_letters == 0
