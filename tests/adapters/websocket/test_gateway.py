"""The websocket role in one process: HTTP ingest -> RabbitMQ stream -> WebSocket clients on
loopback. Who may connect, what each client receives, slow clients, heartbeats and resuming."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from structlog.testing import capture_logs

from adapters.websocket.frames import CLOSE_TOO_SLOW
from adapters.websocket.gateway import WebsocketGateway
from router.config.settings import Settings
from router.config.store import MemoryStore
from schemas.instance_config import ChannelConfig, InstanceConfig
from tests.conftest import Cleanup
from tests.support.app import API_KEY, router_settings
from tests.support.gateway import Client, gateway, publish

AUTH = {"apikey": API_KEY}


async def frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    value: dict[str, Any] = orjson.loads(message.data)
    return value


async def frames(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    return [await frame(ws) for _ in range(n)]


async def nothing_more(ws: aiohttp.ClientWebSocketResponse, within: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=within)


async def status_of(client: Client, path: str, **kwargs: Any) -> int:
    try:
        ws = await client.ws_connect(path, **kwargs)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_who_may_open_which_stream(
    ws_settings: Callable[..., Settings], tokens: MemoryStore
) -> None:
    async with gateway(ws_settings(), tokens) as client:
        assert await status_of(client, "/ws/alpha") == 401
        assert await status_of(client, "/ws/alpha?token=wrong") == 401
        assert await status_of(client, "/ws/beta?token=alpha-token") == 401
        assert await status_of(client, "/ws?token=alpha-token") == 401
        assert await status_of(client, "/ws/alpha?token=alpha-token") == 101
        assert await status_of(client, "/ws/alpha", headers={"apikey": "alpha-token"}) == 101
        bearer = {"Authorization": "Bearer alpha-token"}
        assert await status_of(client, "/ws/alpha", headers=bearer) == 101
        assert await status_of(client, f"/ws/beta?token={API_KEY}") == 101
        assert await status_of(client, f"/ws?token={API_KEY}") == 101
        refused = await client.get("/ws/alpha")
        assert refused.status == 401
        assert (await refused.json())["error"] == "missing_token"


async def test_allowed_hosts_need_no_token(ws_settings: Callable[..., Settings]) -> None:
    async with gateway(ws_settings(allowed_hosts="10.0.0.1, 127.0.0.1")) as client:
        assert await status_of(client, "/ws/alpha") == 101
    async with gateway(ws_settings(allowed_hosts="10.0.0.1")) as client:
        assert await status_of(client, "/ws/alpha") == 401


async def test_bad_requests_are_refused_before_the_upgrade(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(global_events=False)) as client:
        token = f"token={API_KEY}"
        assert await status_of(client, f"/ws?{token}") == 404
        assert await status_of(client, f"/ws/bad%0Aname?{token}") == 422
        assert await status_of(client, f"/ws/alpha?{token}&last_event_id=nope") == 422
        unknown = await client.get(f"/ws/alpha?{token}&events=MESAGES_UPSERT")
        assert unknown.status == 422
        assert "messages.upsert" in (await unknown.json())["suggestions"]
        plain = await client.get(f"/ws/alpha?{token}")
        assert plain.status == 426


async def test_instance_and_global_streams(ws_settings: Callable[..., Settings]) -> None:
    async with gateway(ws_settings()) as client:
        alpha = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        everyone = await client.ws_connect(f"/ws?token={API_KEY}")
        calls = await client.ws_connect(f"/ws/alpha?token={API_KEY}&events=CALL,messages.upsert")
        first = await publish(client, "alpha", "MESSAGES_UPSERT", {"n": 1})
        second = await publish(client, "beta", "call", {"n": 2})
        third = await publish(client, "alpha", "presence.update", {"n": 3})
        fourth = await publish(client, "alpha", "call", {"n": 4})

        got = await frames(alpha, 3)
        assert [f["id"] for f in got] == [first, third, fourth]
        assert got[0]["event"] == "messages.upsert"
        assert got[0]["instance"] == "alpha"
        assert got[0]["data"] == {"n": 1}
        assert [f["id"] for f in await frames(everyone, 4)] == [first, second, third, fourth]
        assert [f["id"] for f in await frames(calls, 2)] == [first, fourth]
        for ws in (alpha, everyone, calls):
            await nothing_more(ws, 0.3)
            await ws.close()


async def test_media_stored_aside_is_left_out_rather_than_sent_as_its_claim(
    ws_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    limits = {"media_claim_bytes": 8192, "media_store": str(tmp_path)}
    video = {"key": {"id": "V1"}, "message": {"videoMessage": {}, "base64": "QU/D" * 4096}}
    async with gateway(ws_settings(router=limits)) as client:
        ws = await client.ws_connect(f"/ws/shop?token={API_KEY}")
        body = {"event": "messages.upsert", "instance": "shop", "data": video}
        answer = await client.post(f"/ingest/evolution/{API_KEY}", json=body)
        assert answer.status == 202, await answer.text()
        sent = (await answer.json())["id"]
        got = await frame(ws)
        await ws.close()
    assert got["id"] == sent
    assert got["data"]["message"] == {"videoMessage": {}}


async def test_instance_blocks_decide_without_global_events(
    ws_settings: Callable[..., Settings],
) -> None:
    store = MemoryStore()
    block = ChannelConfig(enabled=True, events=["MESSAGES_UPSERT"])
    await store.put(InstanceConfig(instance="alpha", websocket=block))
    async with gateway(ws_settings(global_events=False), store) as client:
        alpha = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        beta = await client.ws_connect(f"/ws/beta?token={API_KEY}")
        await publish(client, "alpha", "call")
        wanted = await publish(client, "alpha", "messages.upsert")
        await publish(client, "beta", "messages.upsert")
        assert (await frame(alpha))["id"] == wanted
        await nothing_more(alpha)
        await nothing_more(beta, 0.1)
        await alpha.close()
        await beta.close()


async def test_a_slow_client_is_dropped_and_the_others_get_everything(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(max_buffer=4)) as client:
        fast = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        # Reads nothing: its socket buffers fill, then its queue of 4, then it is dropped.
        slow = await client.ws_connect(f"/ws/alpha?token={API_KEY}", max_msg_size=0)
        big = "x" * 60_000
        total = 150
        received: list[str] = []

        async def read_fast() -> None:
            while len(received) < total:
                received.append((await frame(fast, timeout=20))["id"])

        reader = asyncio.create_task(read_fast())
        sent = []
        for i in range(0, total, 10):
            batch = [
                {"event": "messages.upsert", "data": {"i": j, "pad": big}} for j in range(i, i + 10)
            ]
            response = await client.post("/events/alpha/batch", json=batch, headers=AUTH)
            assert response.status == 202
            sent.extend((await response.json())["ids"])
        await asyncio.wait_for(reader, 30)
        assert received == sent
        # The slow one: whatever was in flight, then the close with the documented code.
        codes = []
        while True:
            message = await slow.receive(timeout=10)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                codes.append(slow.close_code)
                break
            if message.type == aiohttp.WSMsgType.ERROR:
                codes.append(None)
                break
        assert codes in ([CLOSE_TOO_SLOW], [None], [1006])
        metrics = await (await client.get("/metrics")).text()
        assert (
            'router_websocket_clients_dropped_total{protocol="websocket",reason="slow"}' in metrics
        )
        await fast.close()


async def test_a_peer_that_does_not_answer_pings_is_closed(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(heartbeat_seconds=0.4)) as client:
        mute = await client.ws_connect(f"/ws/alpha?token={API_KEY}", autoping=False)
        kinds = []
        async with asyncio.timeout(5):
            while True:
                message = await mute.receive()
                kinds.append(message.type)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
        assert kinds[0] == aiohttp.WSMsgType.PING
        assert kinds[-1] in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_resume_gives_exactly_the_missed_events_then_live(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings()) as client:
        ws = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        seen = [await publish(client, "alpha", "messages.upsert", {"i": i}) for i in range(3)]
        assert [f["id"] for f in await frames(ws, 3)] == seen
        await ws.close()

        missed = [await publish(client, "alpha", "messages.upsert", {"i": i}) for i in range(3, 8)]
        await publish(client, "beta", "messages.upsert")  # another instance: never replayed
        back = await client.ws_connect(f"/ws/alpha?token={API_KEY}&last_event_id={seen[-1]}")
        ids: list[str] = []
        controls: list[dict[str, Any]] = []
        while len(ids) < 5 or not controls:
            got = await frame(back)
            if "type" in got:
                controls.append(got)
            else:
                ids.append(got["id"])
        assert ids == missed
        # Replayed from the stream, except any that reached the gateway after the reconnect
        # and came live, after the notice.
        assert controls == [{"type": "resumed", "last_event_id": seen[-1], "replayed": 5}] or (
            controls[0]["type"] == "resumed" and controls[0]["replayed"] < 5
        )
        live = await publish(client, "alpha", "call")
        assert (await frame(back))["id"] == live
        await nothing_more(back)
        await back.close()


async def test_resume_under_live_traffic_has_no_gap_and_no_duplicate(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings()) as client:
        ws = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        first = await publish(client, "alpha", "call")
        assert (await frame(ws))["id"] == first
        await ws.close()
        missed = [await publish(client, "alpha", "call", {"i": i}) for i in range(200)]

        async def keep_publishing() -> list[str]:
            return [await publish(client, "alpha", "call", {"live": i}) for i in range(100)]

        publisher = asyncio.create_task(keep_publishing())
        back = await client.ws_connect(f"/ws/alpha?token={API_KEY}&last_event_id={first}")
        live = await publisher
        ids: list[str] = []
        while len(ids) < len(missed) + len(live):
            got = await frame(back)
            if got.get("type") != "resumed":
                ids.append(got["id"])
        assert ids == missed + live
        await back.close()


async def test_an_unknown_id_says_history_is_unavailable_then_goes_live(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings()) as client:
        earlier = await publish(client, "alpha", "call")
        unknown = "0190a000-0000-7000-8000-000000000000"  # a UUIDv7 from 2024, never sent
        ws = await client.ws_connect(f"/ws/alpha?token={API_KEY}&last_event_id={unknown}")
        control = await frame(ws, timeout=10)
        assert control["type"] == "history_unavailable"
        assert control["last_event_id"] == unknown
        live = await publish(client, "alpha", "call")
        # The event published just before connecting may still have been on its way to the
        # gateway: then it comes live, once. Nothing else comes before the new one.
        ids = [(await frame(ws))["id"]]
        if ids[0] == earlier:
            ids.append((await frame(ws))["id"])
        assert ids[-1] == live
        await nothing_more(ws, 0.3)
        await ws.close()


async def test_frames_of_every_length_class_arrive_intact(
    ws_settings: Callable[..., Settings],
) -> None:
    # Frames below 65536 bytes and above: two of the header forms of RFC 6455.
    async with gateway(ws_settings()) as client:
        ws = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        sizes = [0, 30_000, 70_000]  # with the envelope around it: 126+, 126+, 65536+
        ids = [await publish(client, "alpha", "call", "y" * n if n else None) for n in sizes]
        got = await frames(ws, 3)
        assert [f["id"] for f in got] == ids
        assert [len(f["data"] or "") for f in got] == sizes
        await ws.close()


async def test_without_a_global_key_only_instances_with_a_token_need_one(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, tokens: MemoryStore
) -> None:
    settings = router_settings(
        amqp_url,
        exchange_name,
        authentication={"api_key": ""},
        websocket={"enabled": True, "global_events": True},
    )
    async with gateway(settings, tokens) as client:
        assert await status_of(client, "/ws/alpha") == 401
        assert await status_of(client, "/ws/alpha?token=beta-token") == 401
        assert await status_of(client, "/ws/alpha?token=alpha-token") == 101
        assert await status_of(client, "/ws/gamma") == 101  # no token of its own
        assert await status_of(client, "/ws") == 101


async def test_an_instance_block_set_at_run_time_takes_effect(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings(global_events=False)) as client:
        ws = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        await publish(client, "alpha", "call")  # nothing selects it yet: not even stored
        answer = await client.post(
            "/websocket/set/alpha",
            json={"websocket": {"enabled": True, "events": ["CALL"]}},
            headers=AUTH,
        )
        assert answer.status in (200, 201), await answer.text()
        sent: list[str] = []
        async with asyncio.timeout(5):
            while True:  # applied through the configuration fanout, within a second
                sent.append(await publish(client, "alpha", "call"))
                try:
                    got = await frame(ws, timeout=0.3)
                    break
                except TimeoutError:
                    continue
        assert got["id"] in sent
        assert got["event"] == "call"
        await ws.close()


async def test_a_vzaps_client_gets_its_types_from_the_data_and_resumes(
    ws_settings: Callable[..., Settings],
) -> None:
    path = f"/ws/alpha?token={API_KEY}&format=vzaps&events=Connected,GroupParticipantsAdd"
    async with gateway(ws_settings()) as client:
        ws = await client.ws_connect(path)
        await publish(client, "alpha", "connection.update", {"state": "connecting"})
        opened = await publish(client, "alpha", "connection.update", {"state": "open"})
        await publish(client, "alpha", "group-participants.update", {"action": "remove"})
        added = await publish(client, "alpha", "group-participants.update", {"action": "add"})
        await publish(client, "alpha", "messages.upsert", {})  # Message: not asked for
        got = await frames(ws, 2)
        await nothing_more(ws, 0.3)
        await ws.close()
        assert [(f["id"], f["type"]) for f in got] == [
            (opened, "Connected"),
            (added, "GroupParticipantsAdd"),
        ]
        assert got[0]["data"] == {"type": "Connected", "event": {}}
        assert got[0]["instance_id"] == "alpha"
        # Away: what it asked for comes first when it is back, in its shape. An observer of
        # every event shows when the gateway has read them, so they are replayed, not live.
        observer = await client.ws_connect(f"/ws/alpha?token={API_KEY}")
        await publish(client, "alpha", "connection.update", {"state": "close"})  # not asked
        joined = await publish(client, "alpha", "group-participants.update", {"action": "add"})
        assert (await frames(observer, 2))[-1]["id"] == joined
        await observer.close()
        again = await client.ws_connect(f"{path}&last_event_id={added}")
        missed, done = await frames(again, 2)
        assert (missed["id"], missed["type"]) == (joined, "GroupParticipantsAdd")
        assert done == {"type": "resumed", "last_event_id": added, "replayed": 1}
        await again.close()


async def test_a_format_no_one_knows_is_refused_before_the_upgrade(
    ws_settings: Callable[..., Settings],
) -> None:
    async with gateway(ws_settings()) as client:
        assert await status_of(client, f"/ws/alpha?token={API_KEY}&format=wuzapi") == 422


@pytest.mark.parametrize("global_events", [False, True])
async def test_a_gateway_with_nothing_to_stream_says_so_at_start(
    ws_settings: Callable[..., Settings], global_events: bool
) -> None:
    gateway = WebsocketGateway(ws_settings(global_events=global_events))
    await gateway.reload(MemoryStore(), None)
    with capture_logs() as logs:
        await gateway.start()
    warned = [entry for entry in logs if entry["event"] == "websocket.nothing_selected"]
    assert bool(warned) is not global_events


async def test_an_instance_that_streams_is_enough_to_start_quietly(
    ws_settings: Callable[..., Settings],
) -> None:
    store = MemoryStore()
    on = ChannelConfig(enabled=True, events=["MESSAGES_UPSERT"])
    await store.put(InstanceConfig(instance="alpha", websocket=on))
    gateway = WebsocketGateway(ws_settings(global_events=False))
    await gateway.reload(store, None)
    with capture_logs() as logs:
        await gateway.start()
    assert not [entry for entry in logs if entry["event"] == "websocket.nothing_selected"]
