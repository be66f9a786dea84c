"""Which queues AMQP consumers read, and the stuck ones first, without I/O."""

from __future__ import annotations

from router.delivery.dlq import Depth
from router.http.amqpqueues import AmqpQueue, amqp_queues, amqp_rows
from schemas import WIRE_NAMES
from schemas.instance_config import ChannelConfig, InstanceConfig

GLOBAL = (("p.call", "*.call"),)


def test_instances_queues_follow_their_blocks_only_with_rabbitmq_enabled() -> None:
    configs = [
        InstanceConfig(instance="all", rabbitmq=ChannelConfig(enabled=True)),
        InstanceConfig(instance="one", rabbitmq=ChannelConfig(enabled=True, events=("call",))),
        InstanceConfig(instance="off", rabbitmq=ChannelConfig(enabled=False, events=("call",))),
    ]
    found = amqp_queues(GLOBAL, configs, per_instance=True)
    assert found[0] == AmqpQueue("p.call", None, "call")
    assert [q.name for q in found if q.instance == "all"] == [f"all.{w}" for w in WIRE_NAMES]
    assert [q.name for q in found if q.instance == "one"] == ["one.call"]
    assert not [q for q in found if q.instance == "off"]
    assert amqp_queues(GLOBAL, configs, per_instance=False) == [found[0]]


def test_the_unread_come_first_then_the_fullest_and_the_undeclared_not_at_all() -> None:
    queues = [AmqpQueue(name, None, "call") for name in ("read", "unread", "empty", "missing")]
    depths = {
        "read": Depth(50, 1),
        "unread": Depth(3, 0),
        "empty": Depth(0, 0),
        "missing": None,
    }
    rows = amqp_rows(queues, depths)
    assert [(r["queue"], r["messages"], r["consumers"]) for r in rows] == [
        ("unread", 3, 0),
        ("read", 50, 1),
        ("empty", 0, 0),
    ]
