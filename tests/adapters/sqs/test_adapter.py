"""The SQS adapter's choice of events: global switches and per-instance ``sqs`` blocks."""

from __future__ import annotations

from adapters.sqs import SqsAdapter, build
from router.config.settings import Settings
from router.config.store import MemoryStore
from schemas import build_envelope
from schemas.instance_config import ChannelConfig, InstanceConfig


def settings(**sqs: object) -> Settings:
    return Settings.build(sqs={"enabled": True, "region": "us-east-1", **sqs})


async def test_global_switches_and_instance_blocks_make_the_bindings() -> None:
    adapter = SqsAdapter(settings(global_enabled=True, event_call=True))
    store = MemoryStore()
    await store.put(InstanceConfig(instance="all", sqs=ChannelConfig(enabled=True)))
    await store.put(
        InstanceConfig(instance="some", sqs=ChannelConfig(enabled=True, events=["MESSAGES_UPSERT"]))
    )
    await store.put(
        InstanceConfig(instance="off", sqs=ChannelConfig(enabled=False, events=["CALL"]))
    )
    await adapter.reload(store, None)
    assert adapter.routing_keys() == {"*.call", "all.#", "some.messages.upsert"}
    assert adapter.wants(build_envelope("x", "call", {}))
    assert adapter.wants(build_envelope("all", "chats.set", {}))
    assert not adapter.wants(build_envelope("some", "chats.set", {}))
    assert not adapter.wants(build_envelope("off", "chats.set", {}))

    await store.put(InstanceConfig(instance="some", sqs=ChannelConfig(enabled=False)))
    await adapter.reload(store, "some")
    assert adapter.routing_keys() == {"*.call", "all.#"}


def test_the_role_follows_sqs_enabled() -> None:
    assert build(Settings.build()) is None
    built = build(settings())
    assert isinstance(built, SqsAdapter)
    assert built.routing_keys() == frozenset()  # global events need SQS_GLOBAL_ENABLED


def test_evolution_and_events_spellings_of_the_switches() -> None:
    from router.config.settings import SQS

    names = SQS.known_names()
    assert "SQS_GLOBAL_MESSAGES_UPSERT" in names
    assert "SQS_EVENTS_MESSAGES_UPSERT" in names
    assert "SQS_GLOBAL_GROUP_UPDATE" in names


async def test_missing_credentials_are_a_dead_letter_with_the_reason() -> None:
    from router.delivery.adapter import Dead, Delivery

    adapter = SqsAdapter(
        settings(
            global_enabled=True,
            event_call=True,
            access_key_id="AKIAEXAMPLE",
            endpoint_url="http://127.0.0.1:1",
        )
    )
    try:
        outcome = await adapter.deliver(Delivery(build_envelope("shop", "call", {}), 1))
    finally:
        await adapter.close()
    assert isinstance(outcome, Dead)
    assert outcome.reason.startswith("credentials:")
    assert "SQS_SECRET_ACCESS_KEY" in outcome.reason
