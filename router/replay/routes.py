"""Where a replayed event goes: straight into the work queue of each destination that wants
it, never through the exchange, so the archive and the destinations not asked for do not see
it twice. Pure: derived from the topology and the per-instance webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from router.amqp.topology import Topology, topic_matches
from router.config.selection import webhook_target
from router.roles import role_of
from schemas.instance_config import InstanceConfig

AMQP: Final = "amqp"  # what ``to`` calls the downstream consumers' queues
# (instance, label) -> the events that webhook wants (None: every event)
Labelled = Mapping[tuple[str, str], frozenset[str] | None]


@dataclass(frozen=True, slots=True)
class Destination:
    choice: str  # what ``to`` names it by: its role, or ``amqp``
    queue: str
    keys: frozenset[str]  # the binding keys of its queue


@dataclass(frozen=True, slots=True)
class Copy:
    queue: str
    target: str | None = None  # the one subscription it is for (a webhook label)


def destinations(topology: Topology) -> tuple[Destination, ...]:
    """Every queue fed from the exchange: the adapters' work queues and the downstream
    consumers' queues (a reporter fed by dead letters is not one)."""
    found = [
        Destination(role_of(b.queues.role), b.queues.work, b.routing_keys)
        for b in topology.adapters
        if not b.dead_letters
    ]
    found += [
        Destination(AMQP, queue, frozenset({key})) for queue, key in topology.downstream_queues
    ]
    return tuple(found)


def choices(found: tuple[Destination, ...]) -> frozenset[str]:
    return frozenset(d.choice for d in found)


def labelled(
    configs: list[InstanceConfig], instance: str | None = None
) -> dict[tuple[str, str], frozenset[str] | None]:
    """The enabled per-instance webhooks by (instance, label), with the events each wants."""
    return {
        (config.instance, hook.label): hook.wanted()
        for config in configs
        if instance is None or config.instance == instance
        for hook in config.webhooks
        if hook.enabled
    }


def copies_for(
    routing_key: str,
    instance: str,
    event: str,
    to: str | None,
    label: str | None,
    found: tuple[Destination, ...],
    webhooks: Labelled,
) -> list[Copy]:
    """The copies one archived event is sent as."""
    if label is not None:
        key = (instance, label)
        if key not in webhooks:
            return []
        wanted = webhooks[key]
        if wanted is not None and event not in wanted:
            return []
        target = webhook_target(instance, label)
        return [Copy(d.queue, target) for d in found if d.choice == "webhook"]
    return [
        Copy(d.queue)
        for d in found
        if (to is None or d.choice == to) and any(topic_matches(k, routing_key) for k in d.keys)
    ]
