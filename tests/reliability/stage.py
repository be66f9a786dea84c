"""What every fault scenario runs on: RabbitMQ nodes of its own, a webhook sink, and the router
as it is deployed, one process per role, configured from the environment."""

from __future__ import annotations

import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import aio_pika
import aiohttp

from tests.reliability.cluster import RabbitCluster
from tests.reliability.nodes import RabbitNode
from tests.reliability.sink import Sink
from tests.support.process import RouterProcess, clean_env

API_KEY = "reliability-key"
INSTANCE = "shop"
ROLES = ("ingest", "webhook")


class Stage:
    """Nodes (one, or a cluster), a sink, and the router's roles as processes of their own; each
    role keeps its port across a restart, as a service behind a fixed address does."""

    def __init__(
        self,
        nodes: Sequence[RabbitNode],
        sink: Sink,
        settings: dict[str, str],
        roles: Sequence[str] = ROLES,
    ) -> None:
        self.nodes = list(nodes)
        self.started_roles = tuple(roles)
        self.sink = sink
        self.exchange = f"reliability-{secrets.token_hex(4)}"
        self.env = clean_env(
            RABBITMQ_URI=",".join(n.amqp_url for n in self.nodes),
            RABBITMQ_EXCHANGE_NAME=self.exchange,
            AUTHENTICATION_API_KEY=API_KEY,
            WEBHOOK_GLOBAL_ENABLED="true",
            WEBHOOK_GLOBAL_URL=sink.url,
            WEBHOOK_EVENTS_MESSAGES_UPSERT="true",
            LOG_LEVEL="WARN",
            LOG_FORMAT="json",
            **settings,
        )
        self.roles: dict[str, RouterProcess] = {}
        self._ports: dict[str, int] = {}
        self._logs: list[str] = []

    @property
    def ingest(self) -> str:
        return self.roles["ingest"].base

    async def start(self, role: str) -> RouterProcess:
        process = RouterProcess(self.env, "--only", role, port=self._ports.get(role))
        self._ports[role] = process.port
        await process.start(ready_within=60)
        self.roles[role] = process
        return process

    async def kill(self, role: str) -> None:
        """SIGKILL: nothing flushed, nothing acked."""
        process = self.roles.pop(role)
        self._logs.append(process.log())
        await process.kill()

    async def stop(self, role: str) -> None:
        process = self.roles.pop(role)
        self._logs.append(await process.stop())

    async def ready(self, role: str) -> tuple[int, dict[str, object]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.roles[role].base}/readyz") as response,
        ):
            body: dict[str, object] = await response.json()
            return response.status, body

    async def metric(self, role: str, name: str, **labels: str) -> float:
        """The sum of a Prometheus metric's samples whose labels include ``labels``."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.roles[role].base}/metrics") as response,
        ):
            text = await response.text()
        total = 0.0
        for line in text.splitlines():
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] == name and all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    async def dead_letters(self, role: str = "webhook") -> int:
        """Messages in the role's dead-letter queue, asked of the first node that answers."""
        for node in self.nodes:
            with contextlib.suppress(Exception):
                connection = await aio_pika.connect(node.amqp_url, timeout=5)
                try:
                    channel = await connection.channel()
                    queue = await channel.declare_queue(f"{self.exchange}.{role}.dlq", passive=True)
                    return queue.declaration_result.message_count or 0
                finally:
                    await connection.close()
        raise RuntimeError("no node answered")

    def logs(self) -> str:
        return "\n".join([*self._logs, *(p.log() for p in self.roles.values())])

    async def __aenter__(self) -> Self:
        for role in self.started_roles:
            await self.start(role)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for role in list(self.roles):
            with contextlib.suppress(Exception):
                await self.stop(role)
        for role in list(self.roles):
            await self.roles.pop(role).kill()
        shutil.rmtree(Path(self.env["ROUTER_STORE_PATH"]).parent, ignore_errors=True)


@contextlib.asynccontextmanager
async def single_node(settings: dict[str, str]) -> AsyncIterator[tuple[RabbitNode, Stage]]:
    async with RabbitNode() as node, Sink() as sink, Stage([node], sink, settings) as stage:
        yield node, stage


@contextlib.asynccontextmanager
async def cluster(settings: dict[str, str]) -> AsyncIterator[tuple[RabbitCluster, Stage]]:
    async with (
        RabbitCluster(3) as nodes,
        Sink() as sink,
        Stage(nodes.nodes, sink, settings) as stage,
    ):
        yield nodes, stage
