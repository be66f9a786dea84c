"""Which events a channel sends: its global switches plus each instance's block, and the
binding keys that make the broker deliver exactly those."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from router.config.store.base import ConfigStore
from schemas import Envelope, instance_word
from schemas.instance_config import ChannelConfig, InstanceConfig

# An instance's block for this channel, or None when it cannot be used (e.g. no app id).
BlockOf = Callable[[InstanceConfig], ChannelConfig | None]


GLOBAL_WEBHOOK = "global"


def webhook_target(instance: str | None, label: str) -> str:
    """The delivery target of a webhook: stable across restarts, carried by its retries and
    replays; ``global`` for the global webhook (``instance`` None)."""
    return GLOBAL_WEBHOOK if instance is None else f"{instance}/{label}"


def event_keys(instance: str | None, events: frozenset[str] | None) -> frozenset[str]:
    """``<owner>.#`` for every event (None), otherwise one key per event. The owner is the
    instance's word, or ``*`` for every instance (``instance`` None); an instance named ``*``
    has a word of its own."""
    owner = "*" if instance is None else instance_word(instance)
    if events is None:
        return frozenset({f"{owner}.#"})
    return frozenset(f"{owner}.{wire}" for wire in events)


async def read_configs(store: ConfigStore, instance: str | None) -> list[InstanceConfig | None]:
    """What a reload reads: one instance's configuration, or every one's."""
    return [await store.get(instance)] if instance else list(await store.all())


class Selection:
    def __init__(self, global_events: frozenset[str], block_of: BlockOf) -> None:
        self.global_events = global_events
        self.block_of = block_of
        self.blocks: dict[str, ChannelConfig] = {}  # enabled, usable blocks by instance

    def routing_keys(self) -> frozenset[str]:
        keys = set(event_keys(None, self.global_events))
        for instance, block in self.blocks.items():
            keys |= event_keys(instance, block.wanted())
        return frozenset(keys)

    def wants_globally(self, envelope: Envelope) -> bool:
        return envelope.event in self.global_events

    def block_for(self, envelope: Envelope) -> ChannelConfig | None:
        """The instance's block when it wants this event."""
        return self.block_wanting(envelope.instance, envelope.event)

    def block_wanting(self, instance: str, event: str) -> ChannelConfig | None:
        block = self.blocks.get(instance)
        if block is None:
            return None
        events = block.wanted()
        return block if events is None or event in events else None

    async def reload(self, store: ConfigStore, instance: str | None) -> None:
        """One instance's block from the store, or every instance's when ``instance`` is None."""
        self.apply(await read_configs(store, instance), instance)

    def apply(self, configs: Sequence[InstanceConfig | None], instance: str | None) -> None:
        """``reload`` with the configurations already read (None: the instance is gone)."""
        if instance is not None:
            self.blocks.pop(instance, None)
        else:
            self.blocks.clear()
        for config in configs:
            block = self.block_of(config) if config is not None else None
            if config is not None and block is not None and block.enabled:
                self.blocks[config.instance] = block
