"""The archive kept past its age: events older than ROUTER_ARCHIVE_MAX_AGE are gone, a replay
of them is refused with what is still kept, and the newer ones are all still there."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from router.replay.plan import stamp
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.receiver import Receiver

AUTH = {"apikey": API_KEY}
SEGMENT = 4096


async def post(client: Any, pad: int) -> str:
    body = {"event": "call", "data": {"pad": "x" * pad}}
    response = await client.post("/events/shop", json=body, headers=AUTH)
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


async def test_past_the_age_the_old_events_are_gone_and_the_new_ones_kept(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, receivers: tuple[Receiver, Receiver]
) -> None:
    receiver, _ = receivers
    settings = router_settings(
        amqp_url,
        exchange_name,
        router={"archive_max_age": "2s", "archive_segment_bytes": SEGMENT},
        webhook={"global_enabled": True, "global_url": f"{receiver.base}/hook", "event_call": True},
    )
    async with running_app(settings) as client:
        started = datetime.now(UTC)
        old = [await post(client, 300) for _ in range(10)]
        await post(client, 2 * SEGMENT)  # fills the segment the old events are in
        ended = datetime.now(UTC)
        await asyncio.sleep(3)  # past the archive's age
        # Retention is applied when a segment is full: the new events fill a few.
        new_from = datetime.now(UTC)
        new = [await post(client, 1000) for _ in range(12)]
        for _ in range(len(old) + 1 + len(new)):
            await receiver.next()
        gone = {"since": stamp(started - timedelta(seconds=1)), "until": stamp(ended)}
        refused = await client.post("/replay", json=gone, headers=AUTH)
        assert refused.status == 422, await refused.text()
        assert "the archive keeps events from" in (await refused.json())["message"]
        kept = await client.post("/replay", json={"since": stamp(new_from)}, headers=AUTH)
        assert kept.status == 202, await kept.text()
        answer = await kept.json()
        again = [orjson.loads((await receiver.next()).body)["id"] for _ in new]
    assert answer["matched"] == len(new)
    assert datetime.fromisoformat(answer["available_since"]) > ended
    assert sorted(again) == sorted(new)
