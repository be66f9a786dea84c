"""A scripted adapter: it records every delivery and answers what the test tells it to."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from router.delivery.adapter import Delivered, Delivery, Feed, Outcome, RetryPolicy

Decide = Callable[[Delivery], Outcome]


class ScriptedAdapter:
    def __init__(
        self,
        name: str = "scripted",
        keys: frozenset[str] = frozenset({"#"}),
        decide: Decide | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.keys = keys
        self.decide: Decide = decide or (lambda _: Delivered(destination="memory"))
        self.retry_policy = policy or RetryPolicy(max_attempts=5, initial_delay=0.1, jitter=0)
        self.feed = Feed()
        self.deliveries: list[Delivery] = []
        self.arrived: asyncio.Queue[Delivery] = asyncio.Queue()
        self.started = False
        self.closed = False

    def routing_keys(self) -> frozenset[str]:
        return self.keys

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def deliver(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery)
        await self.arrived.put(delivery)
        return self.decide(delivery)

    async def next(self, timeout: float = 10.0) -> Delivery:
        async with asyncio.timeout(timeout):
            return await self.arrived.get()
