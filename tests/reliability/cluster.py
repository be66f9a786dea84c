"""A RabbitMQ cluster of a test's own: nodes of ``tests.reliability.nodes`` joined under one
cookie, so a test can stop or kill any of them while the others carry the quorum queues."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from types import TracebackType
from typing import Self

from tests.reliability.nodes import NAME_PREFIX, NodeError, RabbitNode


class RabbitCluster:
    """``size`` nodes with one cookie; nodes 2..n join node 1. ``node(i)`` counts from 1, as
    the node names do; ``urls`` lists the AMQP URLs in the same order."""

    def __init__(
        self,
        size: int = 3,
        *,
        boot_timeout: float = 90.0,
        ctl_timeout: float = 30.0,
        form_timeout: float = 30.0,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        run = secrets.token_hex(3)
        self.cookie = secrets.token_hex(16).upper()
        self.form_timeout = form_timeout
        self.nodes = [
            RabbitNode(
                f"{NAME_PREFIX}-{run}-{i}@localhost",
                cookie=self.cookie,
                boot_timeout=boot_timeout,
                ctl_timeout=ctl_timeout,
            )
            for i in range(1, size + 1)
        ]
        self.form_seconds: float | None = None

    def node(self, i: int) -> RabbitNode:
        if not 1 <= i <= len(self.nodes):
            raise IndexError(f"node {i} of a {len(self.nodes)}-node cluster")
        return self.nodes[i - 1]

    @property
    def urls(self) -> list[str]:
        return [n.amqp_url for n in self.nodes]

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    async def start(self) -> None:
        """Boot every node at once, join nodes 2..n to node 1, wait until all run together."""
        started = time.monotonic()
        try:
            await asyncio.gather(*(n.start() for n in self.nodes))
            first = self.nodes[0]
            for joining in self.nodes[1:]:
                await joining.stop_app()
                await joining.ctl("join_cluster", first.name)
                await joining.start_app()
            await self.await_running(len(self.nodes))
        except BaseException:
            await self.close(graceful=False)
            raise
        self.form_seconds = time.monotonic() - started

    async def await_running(self, count: int, via: int = 1, timeout: float | None = None) -> None:
        """Wait until node ``via`` reports ``count`` running cluster members."""
        limit = timeout or self.form_timeout
        seen: list[str] = []
        try:
            async with asyncio.timeout(limit):
                while True:
                    seen = await self.node(via).running_nodes()
                    if len(seen) == count:
                        return
                    await asyncio.sleep(0.5)
        except TimeoutError:
            raise NodeError(f"{count} running nodes expected, node {via} sees {seen}") from None

    def log_text(self) -> str:
        return "\n".join(n.log_text() for n in self.nodes)

    async def close(self, graceful: bool = True) -> None:
        """Stop (or kill) every node; whatever fails, every node is tried."""
        results = await asyncio.gather(
            *(n.close(graceful) for n in self.nodes), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            for n in self.nodes:
                print(f"--- logs of {n.name} ---\n{n.log_tail(4000)}", file=sys.stderr)
        await self.close(graceful=exc is None)
