"""A WhatsApp video as Evolution sends it (30 MB of base64 in ``data.message.base64``) through
Evolution's webhook path to a RabbitMQ node whose messages may not pass 16 MiB (RabbitMQ 4's
default; a node of the test's own): the media is stored aside, the event is published, and it
reaches a webhook that wants base64 whole and one that does not without it."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from router.config.settings import Settings
from router.config.store import MemoryStore
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.reliability.nodes import RabbitNode
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.evolution import EvolutionWebhook
from tests.support.receiver import Receiver

SIXTEEN_MIB = 16 * 1024 * 1024


@pytest.fixture
async def small_node() -> AsyncIterator[RabbitNode]:
    async with RabbitNode(config=f"max_message_size = {SIXTEEN_MIB}") as node:
        yield node


async def test_a_30_mb_video_reaches_both_webhooks_through_a_16_mib_broker(
    small_node: RabbitNode, receivers: tuple[Receiver, Receiver], tmp_path: Path
) -> None:
    whole, light = receivers
    media = base64.b64encode(os.urandom(22_500_000)).decode()  # 30,000,000 characters
    store = MemoryStore()
    hooks = (
        WebhookConfig(label="whole", url=f"{whole.base}/hook", base64=True),
        WebhookConfig(label="light", url=f"{light.base}/hook", base64=False),
    )
    await store.put(InstanceConfig(instance="shop", webhooks=hooks))
    evolution = EvolutionWebhook(f"/ingest/evolution/{API_KEY}")
    data = {"key": {"id": "3EB0"}, "message": {"videoMessage": {}, "base64": media}}
    raw = evolution.body("messages.upsert", "shop", data)
    assert len(raw) > 30_000_000

    def settings(claim_bytes: int) -> Settings:
        limits = {"media_store": str(tmp_path), "media_claim_bytes": claim_bytes}
        return router_settings(
            small_node.amqp_url,
            f"test-{uuid.uuid4().hex[:10]}",
            router={**limits, "max_event_bytes": 64 * 1024 * 1024},
        )

    # Without the claim check the broker refuses the event: the limit is real.
    async with running_app(settings(256 * 1024 * 1024), ["ingest"]) as client:
        refused = await client.post(evolution.url, data=io.BytesIO(raw))
        assert refused.status == 503

    async with running_app(settings(1024 * 1024), store=store) as client:
        accepted = await client.post(evolution.url, data=io.BytesIO(raw))
        assert accepted.status == 202, await accepted.text()
        event_id = (await accepted.json())["id"]
        got_whole = orjson.loads((await whole.next(timeout=60)).body)
        got_light = orjson.loads((await light.next(timeout=60)).body)
    assert got_whole["id"] == got_light["id"] == event_id
    sent = hashlib.sha256(media.encode()).hexdigest()
    assert hashlib.sha256(got_whole["data"]["message"]["base64"].encode()).hexdigest() == sent
    assert "base64" not in got_light["data"]["message"]
    assert got_light["data"]["message"]["videoMessage"] == {}
    assert (tmp_path / event_id / "0").stat().st_size == len(media)
