"""Media base64 is removed for subscriptions that did not ask for it, and only there."""

from __future__ import annotations

import orjson

from adapters.webhook.adapter import body_for
from router.media import strip_media
from schemas import build_envelope

IMAGE = {"key": {"id": "m1"}, "message": {"imageMessage": {"url": "u"}, "base64": "AAAA"}}


def test_base64_kept_when_asked_for() -> None:
    envelope = build_envelope("shop", "messages.upsert", IMAGE)
    body = orjson.loads(body_for(envelope, "http://x/h", keep_base64=True))
    assert body["data"] == IMAGE
    assert body["destination"] == "http://x/h"


def test_base64_removed_otherwise_everything_else_kept() -> None:
    envelope = build_envelope("shop", "messages.upsert", IMAGE)
    body = orjson.loads(body_for(envelope, "http://x/h", keep_base64=False))
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
