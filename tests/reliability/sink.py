"""A webhook receiver that can be made slow, failing or unreachable while events flow, and that
records every delivery it answered with a 2xx."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web


@dataclass(frozen=True, slots=True)
class Delivery:
    """One 2xx answer: the event id of the body, its ``data.seq`` and when it was answered
    (``time.monotonic()``)."""

    id: str
    seq: int | None
    at: float


def parse_delivery(body: bytes, at: float) -> Delivery:
    """The id and ``data.seq`` of a webhook body; an unreadable body is recorded with an empty
    id so that it still shows up."""
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Delivery("", None, at)
    if not isinstance(document, dict):
        return Delivery("", None, at)
    event_id = document.get("id")
    data = document.get("data")
    seq = data.get("seq") if isinstance(data, dict) else None
    return Delivery(
        event_id if isinstance(event_id, str) else "",
        seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        at,
    )


async def next_arrival(arrived: asyncio.Event, timeout: float) -> bool:
    """Wait for ``arrived`` to be set from now on; False when it was not within ``timeout``."""
    arrived.clear()
    try:
        async with asyncio.timeout(timeout):
            await arrived.wait()
    except TimeoutError:
        return False
    return True


class Sink:
    """An HTTP receiver on 127.0.0.1 that keeps its port across ``down()`` and ``up()``.

    ``latency`` (seconds before answering) and ``failing(status)`` apply to requests from then
    on. ``down()`` closes the listening socket and every open connection, so the port refuses
    connections until ``up()``. A delivery counts only once its 2xx answer was handed to the
    connection; one cut off by ``down()`` is not recorded.
    """

    def __init__(self, path: str = "/hook") -> None:
        self.path = path
        self.port = 0
        self.latency = 0.0
        self.status: int | None = None
        self.deliveries: list[Delivery] = []
        self.requests = 0
        self.answers: Counter[int] = Counter()
        self.cut_off = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def is_up(self) -> bool:
        return self._site is not None

    def failing(self, status: int | None = 503) -> None:
        """Answer ``status`` to every request from now on; ``None`` answers 200 again."""
        if status is not None and 200 <= status < 300:
            raise ValueError("a failing status is not 2xx")
        self.status = status

    def healthy(self) -> None:
        """No failing status, no latency."""
        self.status = None
        self.latency = 0.0

    def delivered_ids(self) -> set[str]:
        return {d.id for d in self.deliveries}

    def first_deliveries(self) -> dict[str, Delivery]:
        first: dict[str, Delivery] = {}
        for delivery in self.deliveries:
            first.setdefault(delivery.id, delivery)
        return first

    async def wait_delivery(self, timeout: float) -> bool:
        """Wait for the next recorded delivery; False when none came within ``timeout``."""
        return await next_arrival(self._arrived, timeout)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        status = self.status
        if status is not None:
            self.answers[status] += 1
            return web.Response(status=status, text="failing on purpose")
        response = web.Response(status=200, text="ok")
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            # Cut off by down(): the router never saw this answer.
            self.cut_off += 1
            return response
        self.answers[200] += 1
        self.deliveries.append(parse_delivery(body, time.monotonic()))
        self._arrived.set()
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.1, access_log=None
        )
        await self._runner.setup()
        await self.up()

    async def up(self) -> None:
        """Listen again, on the same port as before."""
        if self._runner is None:
            raise RuntimeError("start() the sink first")
        if self._site is not None:
            return
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self._site = site
        self.port = site.port

    async def down(self) -> None:
        """Refuse connections: close the listening socket and cut every open connection."""
        site, self._site = self._site, None
        if site is not None:
            await site.stop()
        server = self._runner.server if self._runner is not None else None
        if server is not None:
            for handler in server.connections:
                if handler.transport is not None:
                    handler.transport.abort()

    async def _flap(self, period: float, duration: float) -> None:
        deadline = time.monotonic() + duration
        try:
            for _ in range(int(duration / period) + 1):
                if time.monotonic() >= deadline:
                    break
                if self.is_up:
                    await self.down()
                else:
                    await self.up()
                await asyncio.sleep(min(period, max(0.0, deadline - time.monotonic())))
        finally:
            await self.up()

    def flap(self, period: float, duration: float) -> asyncio.Task[None]:
        """Alternate down and up every ``period`` seconds for ``duration`` seconds, starting
        with down; the sink is up again when the task ends or is cancelled."""
        if period <= 0 or duration < 0:
            raise ValueError("period must be positive and duration not negative")
        return asyncio.create_task(self._flap(period, duration))

    async def stop(self) -> None:
        await self.down()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def stop_flapping(task: asyncio.Task[None]) -> None:
    """Cancel a ``Sink.flap`` task and wait until the sink is back up."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
