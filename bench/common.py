"""What every benchmark needs: the router as a process of its own, and the removal of what it
declared on the shared broker."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aio_pika.abc import AbstractChannel

from router.amqp.archive import archive_name
from router.amqp.codec import encode
from router.amqp.topology import AdapterQueues, every_delay_ms, ingest_dlq_name
from schemas import build_envelope

ROOT = Path(__file__).resolve().parent.parent
# The interpreter that runs the router; a benchmark may point it at another installation.
PYTHON = sys.executable
AMQP_URL = os.environ.get("RABBITMQ_URI", "amqp://guest:guest@127.0.0.1:5672/")
# A realistic messages.upsert payload, the same in every benchmark.
DATA = {
    "key": {"remoteJid": "5511999999999@s.whatsapp.net", "fromMe": False, "id": "3EB0C767D71D"},
    "pushName": "Bench",
    "message": {"conversation": "hello from the benchmark " * 4},
    "messageTimestamp": 1764066600,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_http(url: str, seconds: float = 20) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(seconds):
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


def chromium(script: str) -> str:
    """Debian's chromium, which the console's scripts drive; ``script`` stops without it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        sys.exit(f"{script} needs chromium (apt-get install chromium)")
    return found


def router_env(exchange: str, port: int, **settings: str) -> dict[str, str]:
    """This process's environment with the router on ``exchange``, quiet, on ``port``."""
    env = dict(os.environ)
    env.update(
        RABBITMQ_URI=AMQP_URL,
        RABBITMQ_EXCHANGE_NAME=exchange,
        SERVER_PORT=str(port),
        SERVER_HOST="127.0.0.1",
        ROUTER_STORE_PATH=str(Path(tempfile.gettempdir()) / f"bench-{os.getpid()}.sqlite3"),
        LOG_LEVEL="WARN",
        LOG_FORMAT="json",
        **settings,
    )
    return env


async def spawn_router(env: dict[str, str], *roles: str) -> asyncio.subprocess.Process:
    """The roles as a process (every role when none is named), not waited for."""
    args = [a for role in roles for a in ("--only", role)]
    return await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "router",
        "--env-file",
        "/dev/null",
        "run",
        *args,
        env=env,
        cwd=ROOT if sys.executable == PYTHON else None,
    )


async def start_router(env: dict[str, str], *roles: str) -> asyncio.subprocess.Process:
    """Start the roles (every role when none is named) and wait until ready."""
    proc = await spawn_router(env, *roles)
    try:
        await wait_http(f"http://127.0.0.1:{env['SERVER_PORT']}/readyz")
    except BaseException:
        if proc.returncode is None:  # one that died at start-up has nothing left to stop
            proc.terminate()
        raise
    return proc


async def fill(
    channel: AbstractChannel, exchange: str, n: int, instance_of: Callable[[int], str]
) -> None:
    """Publish ``n`` confirmed ``messages.upsert`` envelopes straight to the exchange, in waves;
    event ``i`` belongs to instance ``instance_of(i)``."""
    ex = await channel.get_exchange(exchange)
    for start in range(0, n, 500):
        batch = [
            build_envelope(instance_of(i), "messages.upsert", DATA)
            for i in range(start, min(n, start + 500))
        ]
        await asyncio.gather(*(ex.publish(encode(e), e.routing_key) for e in batch))


async def declare_then_stop(env: dict[str, str], *roles: str) -> None:
    """Run the roles once so they declare their queues, then stop them: a burst published now
    waits in those queues."""
    proc = await start_router(env, *roles)
    proc.terminate()
    await proc.wait()


async def drop_declared(channel: AbstractChannel, exchange: str, roles: tuple[str, ...]) -> None:
    """Delete the roles' queues and the exchanges the router declared for ``exchange``."""
    for role in roles:
        queues = AdapterQueues.for_role(exchange, role)
        # Deleting a queue that is not there is no error: every delay queue a retry could use.
        for name in (queues.work, queues.dlq, *map(queues.delay, every_delay_ms())):
            await channel.queue_delete(name)
    # Every role declares ingest's dead-letter queue and the archive with the rest of the
    # topology.
    await channel.queue_delete(ingest_dlq_name(exchange))
    await channel.queue_delete(archive_name(exchange))
    for name in (exchange, f"{exchange}.dead", f"{exchange}.config", f"{exchange}.status"):
        await channel.exchange_delete(name)
