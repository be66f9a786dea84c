"""``router replay`` as a user runs it: a real process reading the real archive, progress on
stderr, the outcome on stdout, refusals in one line."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aio_pika.abc import AbstractChannel

from router.amqp.topology import AdapterQueues
from router.replay.plan import stamp
from tests.conftest import Cleanup
from tests.router.test_cli_amqp import router, spawn
from tests.support.amqp import depth
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.process import clean_env
from tests.support.receiver import Receiver

AUTH = {"apikey": API_KEY}


async def test_replay_sends_the_range_again_and_reports_progress(
    amqp_url: str,
    exchange_name: str,
    cleanup: Cleanup,
    receivers: tuple[Receiver, Receiver],
    tmp_path: Path,
) -> None:
    receiver, _ = receivers
    webhook = {
        "global_enabled": True,
        "global_url": f"{receiver.base}/hook",
        "event_messages_upsert": True,
    }
    settings = router_settings(amqp_url, exchange_name, webhook=webhook)
    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL=f"{receiver.base}/hook",
        WEBHOOK_EVENTS_MESSAGES_UPSERT="true",
        ROUTER_STORE_PATH=str(tmp_path / "router.sqlite3"),
        LOG_FORMAT="json",
    )
    since = datetime.now(UTC)
    async with running_app(settings) as client:
        sent = []
        for n in range(3):
            response = await client.post(
                "/events/shop", json={"event": "messages.upsert", "data": {"n": n}}, headers=AUTH
            )
            assert response.status == 202
            sent.append((await response.json())["id"])
        first = [orjson.loads((await receiver.next()).body)["id"] for _ in sent]
        code, out, err = await router("replay", "--since", stamp(since), env=env)
        assert code == 0, err
        again = [orjson.loads((await receiver.next()).body)["id"] for _ in sent]
    assert sorted(first) == sorted(sent)
    assert sorted(again) == sorted(sent)
    outcome = orjson.loads(out)
    assert outcome["state"] == "done"
    assert outcome["matched"] == 3
    assert outcome["sent"] == 3
    assert "router: replaying from the archive: 3 of 3" in err  # not a terminal: lines


async def test_refusals_are_one_line_and_start_nothing(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, tmp_path: Path
) -> None:
    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        ROUTER_STORE_PATH=str(tmp_path / "router.sqlite3"),
    )
    now = datetime.now(UTC)
    earlier = stamp(now - timedelta(hours=1))
    code, out, err = await router("replay", "--since", stamp(now), "--until", earlier, env=env)
    assert code == 2
    assert out == ""
    assert err.strip().count("\n") == 0
    assert "is before 'since'" in err
    code, _, err = await router("replay", "--since", earlier, "--to", "webhook:nope", env=env)
    assert code == 2
    assert "no per-instance webhook is labelled 'nope'" in err


async def test_an_interrupted_replay_says_how_far_it_got(
    amqp_url: str, exchange_name: str, cleanup: Cleanup, channel: AbstractChannel, tmp_path: Path
) -> None:
    webhook = {"global_enabled": True, "global_url": "http://127.0.0.1:9/hook", "event_call": True}
    settings = router_settings(amqp_url, exchange_name, webhook=webhook)
    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL="http://127.0.0.1:9/hook",
        WEBHOOK_EVENTS_CALL="true",
        ROUTER_STORE_PATH=str(tmp_path / "router.sqlite3"),
    )
    since = datetime.now(UTC)
    async with running_app(settings, ["ingest"]) as client:  # the queue fills, nobody reads it
        for _ in range(3):
            response = await client.post(
                "/events/shop/batch", json=[{"event": "call"}] * 1000, headers=AUTH
            )
            assert response.status == 202
    work = AdapterQueues.for_role(exchange_name, "webhook").work
    proc = await spawn("replay", "--since", stamp(since), env=env)
    async with asyncio.timeout(60):
        while await depth(await channel.declare_queue(work, passive=True)) <= 3000 + 50:
            await asyncio.sleep(0.05)  # under way
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130, err.decode()
    assert out == b""
    said = err.decode().strip().splitlines()[-1]
    assert said.startswith("router: stopped after sending ")
    sent = int(said.removeprefix("router: stopped after sending ").split(" ")[0])
    assert 50 <= sent < 3000
    assert " of 3000; run the same replay again" in said
