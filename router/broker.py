"""One AMQP connection, kept open for the life of the process.

aio-pika's robust connection retries at a fixed interval and holds channels weakly; the router
instead owns a plain connection and a supervisor loop: connect, run every registered set-up
step (declare topology, open publisher channels, start consumers), report ready, and on any loss
start over with capped exponential backoff, logging each attempt. Whatever the set-up steps
created is rebuilt from scratch on every connection, so no stale channel is ever used.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection

from router.constants import BROKER_BACKOFF_INITIAL_SECONDS, BROKER_BACKOFF_MAX_SECONDS
from router.logging import get_logger, mask_url

SetupStep = Callable[[AbstractConnection], Awaitable[None]]
log = get_logger("router.broker")


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with full jitter on the upper half, so replicas do not reconnect in
    lockstep after a broker restart."""
    base = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return base / 2 + random.random() * base / 2


class BrokerUnavailable(RuntimeError):
    """The broker is not connected right now; callers answer 503 or wait."""


class Broker:
    def __init__(
        self,
        url: str,
        *,
        name: str = "router",
        connect_timeout: float = 10.0,
        setup_timeout: float = 60.0,
        backoff_initial: float = BROKER_BACKOFF_INITIAL_SECONDS,
        backoff_max: float = BROKER_BACKOFF_MAX_SECONDS,
        provisioned: bool = False,
    ) -> None:
        self.url = url
        # The broker objects exist already: set-up steps only check them (passive declares).
        self.provisioned = provisioned
        self.name = name
        self.connect_timeout = connect_timeout
        self.setup_timeout = setup_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._setup_steps: list[SetupStep] = []
        self._connection: AbstractConnection | None = None
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stopping = asyncio.Event()
        self.connects = 0

    def add_setup(self, step: SetupStep) -> None:
        """Run ``step`` on every new connection before the broker reports ready."""
        self._setup_steps.append(step)

    @property
    def ready(self) -> bool:
        return (
            self._ready.is_set() and self._connection is not None and not self._connection.is_closed
        )

    @property
    def connection(self) -> AbstractConnection:
        if not self.ready or self._connection is None:
            raise BrokerUnavailable("not connected to RabbitMQ")
        return self._connection

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    def connection_lost(self, reason: object = None) -> None:
        """Called by anyone who saw the connection or one of its channels fail; the supervisor
        then closes what is left and reconnects."""
        if self._ready.is_set():
            log.warning("broker.lost", reason=str(reason) if reason else None)
        self._ready.clear()
        self._lost.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"broker-{self.name}")

    async def close(self) -> None:
        self._closing = True
        self._stopping.set()
        self._ready.clear()
        self._lost.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        conn, self._connection = self._connection, None
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    async def _supervise(self) -> None:
        failures = 0
        while not self._closing:
            self._lost.clear()
            try:
                # A set-up step that hangs (a broker under a memory alarm) must not stall the
                # supervisor: give up on this connection and start over.
                async with asyncio.timeout(self.setup_timeout):
                    await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                await self._drop_connection()
                delay = backoff_delay(failures, self.backoff_initial, self.backoff_max)
                log.warning(
                    "broker.connect_failed",
                    url=mask_url(self.url),
                    attempt=failures,
                    retry_in_seconds=round(delay, 2),
                    error=f"{type(exc).__name__}: {exc}",
                )
                await self._wait_closing(delay)
                continue
            failures = 0
            self.connects += 1
            self._ready.set()
            log.info("broker.connected", url=mask_url(self.url), connection=self.name)
            await self._lost.wait()
            self._ready.clear()
            await self._drop_connection()
            if not self._closing:
                failures = 1
                await self._wait_closing(backoff_delay(1, self.backoff_initial, self.backoff_max))

    async def _wait_closing(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _connect_once(self) -> None:
        conn = await aio_pika.connect(
            self.url,
            timeout=self.connect_timeout,
            client_properties={"connection_name": self.name},
        )
        self._connection = conn

        def on_close(_: Any, exc: BaseException | None = None) -> None:
            self.connection_lost(exc or "connection closed")

        conn.close_callbacks.add(on_close)
        for step in self._setup_steps:
            await step(conn)
