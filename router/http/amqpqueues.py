"""The queues AMQP consumers read, for ``GET /destinations``: the global ones
(``RABBITMQ_GLOBAL_ENABLED``) and each instance's (its ``rabbitmq`` block), what they hold and
how many consumers read them, the stuck first: messages and nobody reading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from router.amqp.topology import instance_queue_names
from router.delivery.dlq import Depth
from router.http.openapi import array, integer, nullable, obj, string
from schemas.instance_config import InstanceConfig

MAX_QUEUES: Final = 200  # looked at on each request, the global ones first


@dataclass(frozen=True, slots=True)
class AmqpQueue:
    name: str
    instance: str | None  # None: a global queue
    event: str


def amqp_queues(
    downstream: Sequence[tuple[str, str]],
    configs: Sequence[InstanceConfig],
    per_instance: bool,
) -> list[AmqpQueue]:
    """The global queues (name, ``*.<event>`` binding), then every instance's, as the
    ``rabbitmq`` blocks ask for them (``per_instance``: RABBITMQ_ENABLED)."""
    found = [AmqpQueue(name, None, key.removeprefix("*.")) for name, key in downstream]
    if per_instance:
        for config in configs:
            queues = instance_queue_names(config.instance, config.rabbitmq.wanted())
            found += [AmqpQueue(name, config.instance, wire) for wire, name in queues.items()]
    return found


def amqp_rows(
    queues: Sequence[AmqpQueue], depths: Mapping[str, Depth | None]
) -> list[dict[str, Any]]:
    """Every declared queue, those with messages and no consumer first, then the fullest."""
    declared = [(q, d) for q in queues if (d := depths.get(q.name)) is not None]
    declared.sort(key=lambda found: (not stuck(found[1]), -found[1].messages, found[0].name))
    return [
        {
            "queue": q.name,
            "instance": q.instance,
            "event": q.event,
            "messages": depth.messages,
            "consumers": depth.consumers,
        }
        for q, depth in declared
    ]


def stuck(depth: Depth) -> bool:
    return depth.messages > 0 and depth.consumers == 0


AMQP = obj(
    {
        "queues": array(
            obj(
                {
                    "queue": string(),
                    "instance": nullable(string()),
                    "event": string(),
                    "messages": integer(minimum=0),
                    "consumers": integer(minimum=0),
                },
                ["queue", "instance", "event", "messages", "consumers"],
            ),
            "Declared queues only; those with messages and no consumer first.",
        ),
        "left_out": integer("Queues beyond the first looked at.", minimum=0),
    },
    ["queues", "left_out"],
    description="The queues AMQP consumers read: the global ones, then each instance's.",
)
