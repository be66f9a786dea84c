"""The ``router`` command as a user runs it, as a real process against the real broker."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping

import aiohttp
import orjson
import pytest

from router.amqp.codec import encode
from router.amqp.topology import AdapterQueues
from schemas import build_envelope
from tests.conftest import BindQueue, Cleanup
from tests.support.amqp import next_message
from tests.support.process import RouterProcess, clean_env


async def spawn(*args: str, env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """``router ARGS`` started, without a .env file, its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        "--env-file",
        "/dev/null",
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def router(*args: str, env: Mapping[str, str], timeout: float = 30) -> tuple[int, str, str]:
    proc = await spawn(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(amqp_url: str, exchange_name: str) -> dict[str, str]:
    return clean_env(RABBITMQ_URI=amqp_url, RABBITMQ_EXCHANGE_NAME=exchange_name, LOG_FORMAT="json")


async def test_publish_prints_the_id_and_the_event_arrives(
    env: dict[str, str], bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("*.messages.upsert")
    code, out, err = await router(
        "publish", "my-instance", "messages.upsert", "--data", '{"key": {"id": "A"}}', env=env
    )
    assert code == 0, err
    sent_id = orjson.loads(out)["id"]
    body = orjson.loads((await next_message(queue)).body)
    assert body["id"] == sent_id
    assert body["data"] == {"key": {"id": "A"}}


async def test_publish_refuses_bad_input_with_a_message(
    env: dict[str, str], cleanup: Cleanup
) -> None:
    code, _, err = await router("publish", "my-instance", "mesages.upsert", env=env)
    assert code == 2
    assert "did you mean: messages.upsert" in err
    code, _, err = await router("publish", "inst", "call", "--data", "{oops", env=env)
    assert code == 2
    assert "--data is not valid JSON" in err


async def test_tail_prints_live_events_as_json_lines(env: dict[str, str], cleanup: Cleanup) -> None:
    tail = asyncio.create_task(
        router("tail", "my-instance.#", "--count", "2", "--timeout", "20", "--json", env=env)
    )
    # tail binds its private queue at start; publish until it has seen two events
    for attempt in range(40):
        await router("publish", "my-instance", "call", "--data", f'{{"n": {attempt}}}', env=env)
        if tail.done():
            break
        await asyncio.sleep(0.25)
    code, out, err = await tail
    assert code == 0, err
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert len(lines) == 2
    assert all(line["instance"] == "my-instance" and line["event"] == "call" for line in lines)


async def test_tail_takes_an_instance_by_its_real_name(
    env: dict[str, str], cleanup: Cleanup
) -> None:
    name = "Loja Centro"
    tail = asyncio.create_task(
        router("tail", "--instance", name, "--count", "1", "--timeout", "20", "--json", env=env)
    )
    for attempt in range(40):
        await router("publish", name, "call", "--data", f'{{"n": {attempt}}}', env=env)
        if tail.done():
            break
        await asyncio.sleep(0.25)
    code, out, err = await tail
    assert code == 0, err
    assert orjson.loads(out.splitlines()[0])["instance"] == name


async def test_misspelt_variable_stops_start_up(env: dict[str, str]) -> None:
    code, _, err = await router("config", env={**env, "WEBHOOK_EVENTS_MESAGES_UPSERT": "true"})
    assert code != 0
    assert "WEBHOOK_EVENTS_MESAGES_UPSERT" in err
    assert "WEBHOOK_EVENTS_MESSAGES_UPSERT" in err


async def test_dlq_commands_on_an_empty_queue(
    env: dict[str, str], exchange_name: str, cleanup: Cleanup
) -> None:
    queues = AdapterQueues.for_role(exchange_name, "webhook")
    cleanup.queue(queues.dlq)
    import aio_pika

    connection = await aio_pika.connect(env["RABBITMQ_URI"])
    async with connection:
        ch = await connection.channel()
        await ch.declare_queue(queues.dlq, durable=True, arguments={"x-queue-type": "quorum"})
        await ch.declare_queue(
            cleanup.queue(queues.work), durable=True, arguments={"x-queue-type": "quorum"}
        )
    code, out, err = await router("dlq", "list", "webhook", env=env)
    assert (code, out) == (0, ""), err
    assert f"router: {queues.dlq} is empty" in err
    code, out, _ = await router("dlq", "purge", "webhook", env=env)
    assert code == 2
    code, out, _ = await router("dlq", "purge", "webhook", "--yes", env=env)
    assert orjson.loads(out) == {"queue": queues.dlq, "purged": 0}
    code, out, _ = await router("dlq", "replay", "webhook", env=env)
    assert orjson.loads(out) == {"queue": queues.dlq, "replayed": 0}
    code, _, err = await router("dlq", "list", "nosuchrole", env=env)
    assert code == 1
    assert "NOT_FOUND" in err


@pytest.fixture
async def running_router(env: dict[str, str], cleanup: Cleanup) -> AsyncIterator[str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        "--env-file",
        "/dev/null",
        "run",
        env={
            **env,
            "SERVER_PORT": str(port),
            "SERVER_HOST": "127.0.0.1",
            "AUTHENTICATION_API_KEY": "k",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{base}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("router did not become ready")
        yield base
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()


async def test_run_serves_ingest_and_shuts_down_cleanly(
    running_router: str, bind_queue: BindQueue
) -> None:
    queue = await bind_queue("walk.#")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{running_router}/events/walk",
            json={"event": "call", "data": {}},
            headers={"apikey": "k"},
        ) as response:
            assert response.status == 202
            sent = await response.json()
        async with session.get(f"{running_router}/healthz") as response:
            assert response.status == 200
    assert orjson.loads((await next_message(queue)).body)["id"] == sent["id"]


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


async def test_tail_without_a_broker_is_one_line(env: dict[str, str]) -> None:
    down = f"amqp://guest:s3cret@127.0.0.1:{free_port()}/"
    code, out, err = await router("tail", "x.#", "--count", "1", env={**env, "RABBITMQ_URI": down})
    assert code == 3
    line = one_line(err)
    assert line.startswith("router: cannot tail through RabbitMQ at amqp://guest:***@127.0.0.1")
    assert "s3cret" not in err
    assert out == ""


@pytest.mark.parametrize(
    ("instance", "event", "said"),
    [("", "messages.upsert", "instance name is empty"), ("shop", "no.such.event", "no.such.event")],
)
async def test_publish_refuses_a_bad_name_in_one_line(
    env: dict[str, str], cleanup: Cleanup, instance: str, event: str, said: str
) -> None:
    code, out, err = await router("publish", instance, event, env=env)
    assert code == 2
    assert said in one_line(err)
    assert out == ""


async def test_run_says_where_it_listens_and_a_taken_port_is_one_line(
    env: dict[str, str], cleanup: Cleanup
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await router(
            "run",
            "--only",
            "ingest",
            env={**env, "SERVER_PORT": str(port), "SERVER_HOST": "127.0.0.1"},
        )
    assert code == 2
    assert one_line(err).startswith(f"router: cannot listen on http://127.0.0.1:{port}")

    serving = RouterProcess(env, "--only", "ingest")
    await serving.start()
    log = await serving.stop()
    assert f"router: listening on http://127.0.0.1:{serving.port}, roles: ingest" in log


async def dead_letters(env: dict[str, str], exchange: str, cleanup: Cleanup, n: int) -> str:
    """``n`` dead letters in the webhook role's DLQ (its work queue beside it); the DLQ's name."""
    import aio_pika

    queues = AdapterQueues.for_role(exchange, "webhook")
    async with await aio_pika.connect(env["RABBITMQ_URI"]) as connection:
        channel = await connection.channel()
        for name in (cleanup.queue(queues.dlq), cleanup.queue(queues.work)):
            await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        for start in range(0, n, 500):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        encode(build_envelope("shop", "call", {"n": i})), queues.dlq
                    )
                    for i in range(start, min(n, start + 500))
                )
            )
    return queues.dlq


async def depths(env: dict[str, str], *names: str) -> list[int]:
    import aio_pika

    async with await aio_pika.connect(env["RABBITMQ_URI"]) as connection:
        channel = await connection.channel()
        return [
            (await channel.declare_queue(n, passive=True)).declaration_result.message_count or 0
            for n in names
        ]


async def test_replay_reports_progress_and_an_interrupt_loses_nothing(
    env: dict[str, str], exchange_name: str, cleanup: Cleanup
) -> None:
    dlq = await dead_letters(env, exchange_name, cleanup, 3)
    code, out, err = await router("dlq", "replay", "webhook", env=env)
    assert code == 0, err
    assert orjson.loads(out) == {"queue": dlq, "replayed": 3}
    assert f"router: replaying {dlq}: 0 of 3" in err
    assert f"router: replaying {dlq}: 3 of 3" in err

    work = AdapterQueues.of_dlq(dlq).work
    await dead_letters(env, exchange_name, cleanup, 3000)
    before = sum(await depths(env, dlq, work))
    proc = await spawn("dlq", "replay", "webhook", env=env)
    async with asyncio.timeout(30):
        while (await depths(env, work))[0] <= 3 + 50:  # under way
            await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err_bytes = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130, err_bytes.decode()
    assert "router: stopped after replaying" in err_bytes.decode()
    left, moved = await depths(env, dlq, work)
    assert left > 0  # stopped part of the way
    assert left + moved >= before  # every letter is in one queue or the other
