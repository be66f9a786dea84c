"""Subscriptions: which events, which URL (by-events suffixes), which bindings."""

from __future__ import annotations

import pytest

from adapters.webhook.subscriptions import Subscription, Subscriptions
from schemas import build_envelope


@pytest.mark.parametrize(
    ("url", "event", "expected"),
    [
        ("https://crm/hook", "messages.upsert", "https://crm/hook/messages-upsert"),
        ("https://crm/hook/", "messages.upsert", "https://crm/hook/messages-upsert"),
        (
            "https://crm/hook",
            "group-participants.update",
            "https://crm/hook/group-participants-update",
        ),
        ("https://crm/hook", "typebot.change-status", "https://crm/hook/typebot-change-status"),
        ("https://crm/hook", "send.message.update", "https://crm/hook/send-message-update"),
        ("https://crm/hook", "messaging-history.set", "https://crm/hook/messaging-history-set"),
        ("https://crm/hook", "groups.update", "https://crm/hook/groups-update"),
        ("https://crm/hook", "new.jwt", "https://crm/hook/new-jwt"),
        ("https://crm/hook", "call", "https://crm/hook/call"),
    ],
)
def test_by_events_urls(url: str, event: str, expected: str) -> None:
    assert Subscription(url=url, events=None, by_events=True).url_for(event) == expected
    assert Subscription(url=url, events=None).url_for(event) == url


def test_global_and_instance_bindings() -> None:
    everything = Subscription(url="u", events=None)
    assert everything.binding_keys() == {"*.#"}
    some = Subscription(url="u", events=frozenset({"call", "messages.upsert"}))
    assert some.binding_keys() == {"*.call", "*.messages.upsert"}
    mine = Subscription(url="u", events=frozenset({"call"}), instance="shop", label="crm")
    assert mine.binding_keys() == {"shop.call"}
    assert mine.id == "shop/crm"
    assert Subscription(url="u", events=None, instance="shop").binding_keys() == {"shop.#"}
    assert Subscription(url="u", events=None, enabled=False).binding_keys() == set()
    assert Subscription(url="u", events=frozenset()).binding_keys() == set()


def test_wants_filters_by_instance_and_event() -> None:
    call_a = build_envelope("a", "call", {})
    call_b = build_envelope("b", "call", {})
    upsert_a = build_envelope("a", "messages.upsert", {})
    subs = Subscriptions(
        [
            Subscription(url="g", events=frozenset({"call"})),
            Subscription(url="a1", events=None, instance="a", label="one"),
            Subscription(
                url="a2", events=frozenset({"messages.upsert"}), instance="a", label="two"
            ),
            Subscription(url="off", events=None, instance="a", label="off", enabled=False),
        ]
    )
    assert [s.url for s in subs.for_envelope(call_a)] == ["g", "a1"]
    assert [s.url for s in subs.for_envelope(call_b)] == ["g"]
    assert [s.url for s in subs.for_envelope(upsert_a)] == ["a1", "a2"]
    assert subs.binding_keys() == {"*.call", "a.#", "a.messages.upsert"}


def test_replacing_an_instance_keeps_the_others() -> None:
    subs = Subscriptions([Subscription(url="g", events=None)])
    subs.replace_instance("a", [Subscription(url="x", events=None, instance="a", label="l")])
    assert subs.get("a/l") is not None
    subs.replace_instance("a", [])
    assert subs.get("a/l") is None
    assert subs.get("global") is not None
    with pytest.raises(ValueError, match="not for instance"):
        subs.replace_instance("a", [Subscription(url="x", events=None, instance="b")])
