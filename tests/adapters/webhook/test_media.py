"""Media base64 is removed for subscriptions that did not ask for it, and only there."""

from __future__ import annotations

from typing import Any

import orjson

from adapters.webhook.adapter import body_for
from adapters.webhook.subscriptions import Subscription
from router.media import strip_media
from schemas import Envelope, build_envelope
from schemas.shapes import PayloadFormat

IMAGE = {"key": {"id": "m1"}, "message": {"imageMessage": {"url": "u"}, "base64": "AAAA"}}


def sent(
    envelope: Envelope, *, keep_base64: bool, payload_format: PayloadFormat = "evolution"
) -> Any:
    sub = Subscription("http://x/h", None, base64=keep_base64, format=payload_format)
    body = body_for(envelope, "http://x/h", sub, "")
    assert body is not None
    return orjson.loads(body)


def test_base64_kept_when_asked_for() -> None:
    envelope = build_envelope("shop", "messages.upsert", IMAGE)
    body = sent(envelope, keep_base64=True)
    assert body["data"] == IMAGE
    assert body["destination"] == "http://x/h"


def test_base64_removed_otherwise_everything_else_kept() -> None:
    envelope = build_envelope("shop", "messages.upsert", IMAGE)
    body = sent(envelope, keep_base64=False)
    assert body["data"] == {"key": {"id": "m1"}, "message": {"imageMessage": {"url": "u"}}}
    assert body["id"] == envelope.id
    assert list(body) == list(orjson.loads(envelope.with_destination("http://x/h").to_json()))


def test_lists_and_history_sets_are_stripped_and_inputs_untouched() -> None:
    data = {"messages": [IMAGE, {"message": {"conversation": "hi"}}]}
    assert strip_media(data) == {
        "messages": [
            {"key": {"id": "m1"}, "message": {"imageMessage": {"url": "u"}}},
            {"message": {"conversation": "hi"}},
        ]
    }
    assert strip_media([IMAGE]) == [
        {"key": {"id": "m1"}, "message": {"imageMessage": {"url": "u"}}}
    ]
    assert IMAGE["message"]["base64"] == "AAAA"  # type: ignore[index]
    assert strip_media("text") == "text"


def test_every_shape_follows_the_subscriptions_base64_choice() -> None:
    envelope = build_envelope("shop", "messages.upsert", IMAGE)
    # RyzeAPI keeps the media's base64 in data.message.media, VZaps beside the event.
    formats: tuple[PayloadFormat, ...] = ("ryze", "vzaps")
    for payload_format in formats:
        kept = sent(envelope, keep_base64=True, payload_format=payload_format)
        removed = sent(envelope, keep_base64=False, payload_format=payload_format)
        media = (kept["data"], removed["data"])
        if payload_format == "ryze":
            media = (media[0]["message"]["media"], media[1]["message"]["media"])
        assert media[0]["base64"] == "AAAA"
        assert "base64" not in media[1]
        assert removed["id"] == envelope.id
