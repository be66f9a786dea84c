"""A webhook receiver on a loopback port: records every request, answers what the test says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass(slots=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hang: float = 0.0  # seconds to wait before answering


# Decides the answer from the request and how many requests that path had before it.
Script = Callable[[Received, int], Answer]


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.arrived: asyncio.Queue[Received] = asyncio.Queue()
        self.script: Script = lambda _r, _n: Answer()
        self._counts: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.path_qs, dict(request.headers), await request.read(), time.monotonic()
        )
        count = self._counts.get(received.path, 0)
        self._counts[received.path] = count + 1
        self.requests.append(received)
        await self.arrived.put(received)
        answer = self.script(received, count)
        if answer.hang:
            await asyncio.sleep(answer.hang)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    async def start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)  # media bodies of tens of MB
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def next(self, timeout: float = 10.0) -> Received:
        async with asyncio.timeout(timeout):
            return await self.arrived.get()

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()
