"""deploy/rabbitmq/definitions.json is what the router declares, and a broker provisioned with
it serves a router whose user has no configure permission beyond server-named queues."""

from __future__ import annotations

import asyncio
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractConnection

from router.amqp.broker import Broker
from router.amqp.publisher import Publisher
from router.amqp.topology import AdapterQueues, declare, quantize_delay_ms
from router.app import enabled_adapters, topology_for
from router.config.settings import Settings, event_field
from router.definitions import definitions, reference_settings, render, vhost_of
from router.delivery.adapter import RetryPolicy
from router.delivery.retryqueues import delays_ms, within
from tests.deploy.paths import DEPLOY, tool
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.process import clean_env
from tests.support.receiver import Answer, Receiver, running_receiver

COMMITTED = DEPLOY / "rabbitmq" / "definitions.json"
REGENERATE = (
    "SQS_ENABLED=true PUSHER_ENABLED=true WEBSOCKET_ENABLED=true "
    "router --env-file /dev/null topology --definitions > deploy/rabbitmq/definitions.json"
)


def test_committed_file_is_the_rendering_for_every_role() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(definitions(reference_settings())), (
        f"deploy/rabbitmq/definitions.json is stale: {REGENERATE}"
    )


def test_it_holds_every_queue_the_router_declares_with_the_same_arguments() -> None:
    found = definitions(reference_settings())
    queues = {q["name"]: q["arguments"] for q in found["queues"]}
    topology = topology_for(reference_settings(), enabled_adapters(reference_settings()))
    for binding in topology.adapters:
        names = binding.queues
        assert queues[names.work] == names.work_arguments()
        assert names.dlq in queues
    for stream in topology.streams:
        assert queues[stream.name] == stream.arguments()
    assert queues["evolution_exchange.websocket"]["x-queue-type"] == "stream"
    assert queues["evolution_exchange.archive"]["x-queue-type"] == "stream"
    roles = {b.queues.role for b in topology.adapters}
    assert roles == {"webhook", "sqs", "pusher"}
    exchanges = {e["name"]: e["type"] for e in found["exchanges"]}
    assert exchanges == {
        "evolution_exchange": "topic",
        "evolution_exchange.dead": "topic",
        "evolution_exchange.config": "fanout",
        "evolution_exchange.status": "fanout",
    }


def test_retry_queues_are_kept_and_cover_every_delay_the_policy_gives() -> None:
    found = definitions(reference_settings())
    queues = {q["name"]: q["arguments"] for q in found["queues"]}
    policy = RetryPolicy.from_settings(reference_settings().webhook)
    for delay in delays_ms(policy):
        arguments = queues[AdapterQueues.for_role("evolution_exchange", "webhook").delay(delay)]
        assert arguments["x-message-ttl"] == delay
        assert "x-expires" not in arguments


@pytest.mark.parametrize(
    "policy",
    [
        RetryPolicy(),
        RetryPolicy(initial_delay=0.1, max_delay=0.4, jitter=0),
        RetryPolicy(initial_delay=30, exponential=False, max_delay=10, jitter=0.5),
        RetryPolicy(initial_delay=0, max_delay=3600, jitter=1),
    ],
)
def test_every_delay_a_policy_produces_has_its_queue(policy: RetryPolicy) -> None:
    delays = delays_ms(policy)
    assert list(delays) == sorted(set(delays))
    rng = random.Random(7)
    for attempt in range(1, 40):
        for _ in range(50):
            base = policy.delay_for(attempt, rng)
            own = quantize_delay_ms(base)
            assert within(own, delays) == own  # the policy's own delays are never moved
            for asked in (base * 2, base, 0.0, policy.max_delay, 1.0, 10**6):  # Retry-After
                assert within(quantize_delay_ms(asked), delays) in delays


def test_vhost_of_reads_the_uri_as_the_client_does() -> None:
    assert vhost_of("amqp://u:p@host:5672/") == "/"
    assert vhost_of("amqp://u:p@host") == "/"
    assert vhost_of("amqp://u:p@host/prod") == "prod"
    assert vhost_of("amqp://u:p@host/%2Fa") == "/a"


def rabbitmqctl(*args: str, check: bool = True) -> None:
    result = subprocess.run(
        [tool("rabbitmqctl"), "-q", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"rabbitmqctl {args[0]}: {result.stderr}"


def import_definitions(text: str) -> None:
    """With RabbitMQ's own tool, which reads the file as the broker's user: a folder it may
    enter, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="router-definitions-"))
    try:
        folder.chmod(0o755)
        path = folder / "definitions.json"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
        rabbitmqctl("import_definitions", str(path))
    finally:
        shutil.rmtree(folder)


async def provision(settings: Settings, user: str, password: str) -> None:
    """Provision the broker from the definitions, then give the user a password."""
    await asyncio.to_thread(import_definitions, render(definitions(settings, user)))
    await asyncio.to_thread(rabbitmqctl, "change_password", user, password)


@pytest.fixture
async def vhost() -> AsyncIterator[str]:
    name = f"router-test-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        await asyncio.to_thread(rabbitmqctl, "delete_vhost", name, check=False)


@pytest.fixture
async def user() -> AsyncIterator[str]:
    name = f"router-test-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        await asyncio.to_thread(rabbitmqctl, "delete_user", name, check=False)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for r in running_receiver():
        yield r


def provisioned_settings(uri: str, receiver: Receiver, provisioned: bool) -> Settings:
    return router_settings(
        uri,
        "evolution_exchange",
        rabbitmq={"provisioned": provisioned},
        webhook={
            "global_enabled": True,
            "global_url": f"{receiver.base}/hook",
            event_field("MESSAGES_UPSERT"): True,
            "retry_initial_delay_seconds": 0.1,
            "retry_max_delay_seconds": 0.4,
            "retry_jitter_factor": 0,
        },
    )


async def guest_connection(amqp_url: str, vhost: str) -> AbstractConnection:
    await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return await aio_pika.connect(amqp_url.rstrip("/") + "/" + vhost)


async def test_a_provisioned_broker_serves_a_router_without_configure_permission(
    amqp_url: str, vhost: str, user: str, receiver: Receiver
) -> None:
    password = secrets.token_hex(8)
    host = amqp_url.split("@", 1)[1].split("/", 1)[0]
    uri = f"amqp://{user}:{password}@{host}/{vhost}"
    settings = provisioned_settings(uri, receiver, provisioned=True)
    await provision(settings, user, password)

    # Without RABBITMQ_PROVISIONED the same user cannot even declare the exchange.
    refused = Broker(uri, name="refused", backoff_max=0.5)
    refused.add_setup(Publisher(refused, topology_for(settings, enabled_adapters(settings))).setup)
    await refused.start()
    try:
        with pytest.raises(TimeoutError):
            await refused.wait_ready(2)
    finally:
        await refused.close()

    # A failed attempt first: the retry waits in a provisioned retry queue.
    receiver.script = lambda _r, n: Answer(status=500 if n == 0 else 200)
    async with running_app(settings) as client:
        response = await client.post(
            "/events/my-instance",
            json={"event": "messages.upsert", "data": {"key": {"id": "3EB0"}}},
            headers={"apikey": API_KEY},
        )
        assert response.status == 202
        event_id = (await response.json())["id"]
        first, second = await receiver.next(), await receiver.next(timeout=15)
    for received in (first, second):
        assert received.path == "/hook"
        assert orjson.loads(received.body)["id"] == event_id


async def test_what_the_router_declares_matches_the_imported_definitions(
    amqp_url: str, vhost: str, user: str
) -> None:
    settings = Settings.build(
        rabbitmq={"uri": f"amqp://guest:guest@127.0.0.1/{vhost}"},
        sqs={"enabled": True},
        pusher={"enabled": True},
        websocket={"enabled": True, "global_events": True},
    )
    await provision(settings, user, secrets.token_hex(8))
    topology = topology_for(settings, enabled_adapters(settings))
    connection = await guest_connection(amqp_url, vhost)
    try:
        # Declared as the router declares when it owns the broker: an argument that differs
        # from the imported definitions makes RabbitMQ refuse (PRECONDITION_FAILED), which
        # closes the channel and fails the test.
        channel = await connection.channel()
        await declare(channel, topology)
        for stream in topology.streams:
            await channel.declare_queue(stream.name, durable=True, arguments=stream.arguments())
        for binding in topology.adapters:
            queues = binding.queues
            for delay in delays_ms(RetryPolicy.from_settings(settings.webhook)):
                arguments = queues.delay_arguments(delay)
                await channel.declare_queue(queues.delay(delay), durable=True, arguments=arguments)
        assert not channel.is_closed
        # And the streams really are there for the events they keep.
        for stream in topology.streams:
            routed = await channel.declare_queue(stream.name, passive=True)
            assert routed.name == stream.name
        assert topology.routes("my-instance.messages.upsert")
    finally:
        await connection.close()


def test_the_cli_prints_the_committed_file() -> None:
    env = clean_env(SQS_ENABLED="true", PUSHER_ENABLED="true", WEBSOCKET_ENABLED="true")
    printed = subprocess.run(
        [sys.executable, "-m", "router", "--env-file", "/dev/null", "topology", "--definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert printed == COMMITTED.read_text(encoding="utf-8")
    topology_only = subprocess.run(
        [
            sys.executable,
            "-m",
            "router",
            "--env-file",
            "/dev/null",
            "topology",
            "--definitions",
            "--no-user",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    full, bare = orjson.loads(printed), orjson.loads(topology_only)
    assert bare["users"] == []
    assert bare["permissions"] == []
    assert {k: v for k, v in bare.items() if k not in ("users", "permissions")} == {
        k: v for k, v in full.items() if k not in ("users", "permissions")
    }


async def test_an_unprovisioned_instance_queue_does_not_take_the_router_down(
    amqp_url: str, vhost: str, user: str, receiver: Receiver
) -> None:
    password = secrets.token_hex(8)
    host = amqp_url.split("@", 1)[1].split("/", 1)[0]
    uri = f"amqp://{user}:{password}@{host}/{vhost}"
    settings = provisioned_settings(uri, receiver, provisioned=True)
    await provision(settings, user, password)
    async with running_app(settings) as client:
        # An instance's own queues were not provisioned, and the user may not create them.
        answer = await client.post(
            "/rabbitmq/set/shop",
            json={"rabbitmq": {"enabled": True, "events": ["MESSAGES_UPSERT"]}},
            headers={"apikey": API_KEY},
        )
        assert answer.status in (200, 201), await answer.text()
        await asyncio.sleep(1.5)  # applied within a second; refused, logged, tried at resync
        assert (await client.get("/readyz")).status == 200
        response = await client.post(
            "/events/shop", json={"event": "messages.upsert"}, headers={"apikey": API_KEY}
        )
        assert response.status == 202
        assert orjson.loads((await receiver.next()).body)["id"] == (await response.json())["id"]
