"""Where a replayed event goes, derived from the topology and the per-instance webhooks."""

from __future__ import annotations

from router.amqp.topology import AdapterBinding, AdapterQueues, Topology, downstream_queues
from router.replay.routes import Copy, choices, copies_for, destinations, labelled
from schemas.instance_config import InstanceConfig, WebhookConfig

TOPOLOGY = Topology(
    exchange="ex",
    adapters=(
        AdapterBinding(AdapterQueues.for_role("ex", "webhook"), frozenset({"shop.#", "*.call"})),
        AdapterBinding(AdapterQueues.for_role("ex", "sqs"), frozenset({"*.messages.upsert"})),
        AdapterBinding(
            AdapterQueues.for_role("ex", "webhook-errors"), frozenset({"#"}), dead_letters=True
        ),
    ),
    downstream_queues=downstream_queues("down", ["call"]),
)
FOUND = destinations(TOPOLOGY)


def test_destinations_are_the_work_queues_fed_by_the_exchange() -> None:
    assert [d.queue for d in FOUND] == ["ex.webhook", "ex.sqs", "down.call"]
    assert choices(FOUND) == {"webhook", "sqs", "amqp"}


def test_every_destination_that_wants_the_event_by_default() -> None:
    assert copies_for("shop.call", "shop", "call", None, None, FOUND, {}) == [
        Copy("ex.webhook"),
        Copy("down.call"),
    ]
    assert copies_for(
        "other.messages.upsert", "other", "messages.upsert", None, None, FOUND, {}
    ) == [Copy("ex.sqs")]


def test_one_role_only() -> None:
    assert copies_for("shop.call", "shop", "call", "amqp", None, FOUND, {}) == [Copy("down.call")]
    assert copies_for("shop.qrcode.updated", "shop", "qrcode.updated", "sqs", None, FOUND, {}) == []


def test_one_webhook_label_only_for_the_events_it_wants() -> None:
    configs = [
        InstanceConfig(
            instance="shop",
            webhooks=[
                WebhookConfig(label="crm", url="http://crm.example/h", events=["CALL"]),
                WebhookConfig(label="off", url="http://off.example/h", enabled=False),
            ],
        ),
        InstanceConfig(
            instance="other", webhooks=[WebhookConfig(label="crm", url="http://o.example/")]
        ),
    ]
    webhooks = labelled(configs)
    assert set(webhooks) == {("shop", "crm"), ("other", "crm")}
    assert copies_for("shop.call", "shop", "call", "webhook:crm", "crm", FOUND, webhooks) == [
        Copy("ex.webhook", "shop/crm")
    ]
    assert (
        copies_for(
            "shop.messages.upsert", "shop", "messages.upsert", "webhook:crm", "crm", FOUND, webhooks
        )
        == []
    )
    assert copies_for("shop.call", "shop", "call", "webhook:off", "off", FOUND, webhooks) == []
    assert set(labelled(configs, "other")) == {("other", "crm")}
