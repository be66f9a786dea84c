"""One AMQP connection, kept open for the life of the process.

aio-pika's robust connection retries at a fixed interval and holds channels weakly; the router
instead owns a plain connection and a supervisor loop: connect, run every registered set-up
step (declare topology, open publisher channels, start consumers), report ready, and on any loss
start over, logging each attempt. Whatever the set-up steps created is rebuilt from scratch on
every connection, so no stale channel is ever used.

``RABBITMQ_URI`` may list several URIs, comma-separated (the nodes of a cluster): a lost
connection goes on at once with the next one, and only after every URI failed in a row does the
supervisor wait, with a backoff capped at about a second, so a broker that answers again is used
again within two seconds.

RabbitMQ blocks a connection that publishes while a memory or disk alarm is in effect, and says
so (``connection.blocked``) only once the connection has published. With ``watch_alarms`` a tiny
probe is published every quarter of a second, so the block is known before any real publish
waits on it; ``blocked`` then gives the broker's reason until it lifts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from router.constants import BROKER_BACKOFF_INITIAL_SECONDS, BROKER_BACKOFF_MAX_SECONDS
from router.logging import get_logger, mask_url

SetupStep = Callable[[AbstractConnection], Awaitable[None]]
log = get_logger("router.broker")
# How often the alarm probe publishes; a block is known this long after it began, at worst.
ALARM_PROBE_SECONDS = 0.25
# Published to the default exchange under a name no queue has: RabbitMQ drops it.
ALARM_PROBE_KEY = "evrouter.alarm-probe"
# A connection that ends sooner than this after it was made is followed by a pause, so a broker
# that accepts and drops connections at once is not hammered.
SHORT_CONNECTION_SECONDS = 1.0
# Failed connection attempts logged one by one; after that, one in this many.
LOGGED_FAILURES = 3
LOG_EVERY = 30


def parse_uris(value: str | Sequence[str]) -> tuple[str, ...]:
    """The AMQP URIs of ``RABBITMQ_URI``: one, or several separated by commas."""
    items = value.split(",") if isinstance(value, str) else list(value)
    uris = tuple(u.strip() for u in items if u.strip())
    if not uris:
        raise ValueError("no AMQP URI given")
    return uris


def mask_uris(uris: Sequence[str]) -> str:
    return ",".join(mask_url(u) for u in uris)


async def connect_any(
    uris: str | Sequence[str], name: str, timeout: float = 10.0
) -> AbstractConnection:
    """A plain connection to the first of ``uris`` that answers (one-off tools)."""
    error: Exception | None = None
    for url in parse_uris(uris):
        try:
            return await aio_pika.connect(
                url, timeout=timeout, client_properties={"connection_name": name}
            )
        except Exception as exc:
            error = exc
    assert error is not None
    raise error


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with full jitter on the upper half, so replicas do not reconnect in
    lockstep after a broker restart."""
    base = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return base / 2 + random.random() * base / 2


class BrokerUnavailable(RuntimeError):
    """The broker is not connected right now; callers answer 503 or wait."""


class BrokerBlocked(BrokerUnavailable):
    """RabbitMQ blocks publishers (a memory or disk alarm); nothing was published."""


def watch_blocking(
    connection: AbstractConnection,
    on_blocked: Callable[[str], None],
    on_unblocked: Callable[[], None],
) -> bool:
    """Be told when RabbitMQ blocks and unblocks ``connection``. aiormq handles the two frames
    without telling anyone, so its handlers are wrapped; False if this aiormq has none."""
    raw = getattr(getattr(connection, "transport", None), "connection", None)
    blocked = getattr(raw, "_Connection__handle_connection_blocked", None)
    unblocked = getattr(raw, "_Connection__handle_connection_unblocked", None)
    if raw is None or blocked is None or unblocked is None:
        return False

    async def handle_blocked(frame: Any) -> None:
        on_blocked(str(getattr(frame, "reason", "") or "blocked"))
        await blocked(frame)

    async def handle_unblocked(frame: Any) -> None:
        on_unblocked()
        await unblocked(frame)

    raw._Connection__handle_connection_blocked = handle_blocked
    raw._Connection__handle_connection_unblocked = handle_unblocked
    return True


class Broker:
    def __init__(
        self,
        url: str | Sequence[str],
        *,
        name: str = "router",
        connect_timeout: float = 10.0,
        setup_timeout: float = 60.0,
        backoff_initial: float = BROKER_BACKOFF_INITIAL_SECONDS,
        backoff_max: float = BROKER_BACKOFF_MAX_SECONDS,
        provisioned: bool = False,
        watch_alarms: bool = False,
    ) -> None:
        self.urls = parse_uris(url)
        self.url = self.urls[0]  # the one in use
        self.watch_alarms = watch_alarms
        self.blocked: str | None = None  # the broker's reason while it blocks publishers
        self._on_block: list[Callable[[str | None], None]] = []
        self._probe: asyncio.Task[None] | None = None
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

    def on_block(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback`` with the reason when publishers are blocked, None when unblocked."""
        self._on_block.append(callback)

    def _set_blocked(self, reason: str | None) -> None:
        if reason == self.blocked:
            return
        self.blocked = reason
        if reason is None:
            log.warning("broker.unblocked", connection=self.name)
        else:
            log.error("broker.blocked", connection=self.name, reason=reason)
        for callback in self._on_block:
            callback(reason)

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

    def connection_lost(
        self, reason: object = None, connection: AbstractConnection | None = None
    ) -> None:
        """Called by anyone who saw the connection or one of its channels fail; the supervisor
        then closes what is left and reconnects. A report about an earlier ``connection`` (a
        callback firing late, while it closes) is ignored."""
        if connection is not None and connection is not self._connection:
            return
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
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
        conn, self._connection = self._connection, None
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
        # A block belongs to its connection: a new one starts unblocked until told otherwise.
        self._set_blocked(None)

    async def _supervise(self) -> None:
        while not self._closing:
            try:
                await self._keep_connected()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A fault of the supervisor itself must not end reconnecting for good.
                log.exception("broker.supervisor_failed", connection=self.name)
                await self._drop_connection()
                await self._wait_closing(self.backoff_max)

    async def _keep_connected(self) -> None:
        index = 0  # the URI to try next
        tried = 0  # attempts in a row that failed, over every URI
        short = 0  # connections in a row that ended at once
        while not self._closing:
            self._lost.clear()
            url = self.urls[index]
            try:
                # A set-up step that hangs (a broker under a memory alarm) must not stall the
                # supervisor: give up on this connection and start over.
                async with asyncio.timeout(self.setup_timeout):
                    await self._connect_once(url)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                tried += 1
                await self._drop_connection()
                index = (index + 1) % len(self.urls)
                # The next URI at once; a pause only once every one of them failed.
                delay = 0.0
                if index == 0:
                    cycles = tried // len(self.urls)
                    delay = backoff_delay(cycles, self.backoff_initial, self.backoff_max)
                if tried <= LOGGED_FAILURES or tried % LOG_EVERY == 0:
                    log.warning(
                        "broker.connect_failed",
                        url=mask_url(url),
                        attempt=tried,
                        retry_in_seconds=round(delay, 2),
                        error=f"{type(exc).__name__}: {exc}",
                    )
                await self._wait_closing(delay)
                continue
            tried = 0
            self.connects += 1
            self.url = url
            connected_at = time.monotonic()
            self._ready.set()
            log.info("broker.connected", url=mask_url(url), connection=self.name)
            await self._lost.wait()
            self._ready.clear()
            await self._drop_connection()
            if self._closing:
                break
            # The node may be gone: the next URI first, at once.
            index = (index + 1) % len(self.urls)
            if time.monotonic() - connected_at < SHORT_CONNECTION_SECONDS:
                short += 1
                await self._wait_closing(
                    backoff_delay(short, self.backoff_initial, self.backoff_max)
                )
            else:
                short = 0

    async def _wait_closing(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _connect_once(self, url: str) -> None:
        conn = await aio_pika.connect(
            url,
            timeout=self.connect_timeout,
            client_properties={"connection_name": self.name},
        )
        self._connection = conn

        def on_close(_: Any, exc: BaseException | None = None) -> None:
            self.connection_lost(exc or "connection closed", conn)

        def blocked(reason: str | None) -> None:
            if conn is self._connection:
                self._set_blocked(reason)

        conn.close_callbacks.add(on_close)
        if self.watch_alarms and not watch_blocking(conn, blocked, lambda: blocked(None)):
            log.warning("broker.alarms_unwatched", detail="this aiormq hides connection.blocked")
        for step in self._setup_steps:
            await step(conn)
        if self.watch_alarms:
            self._start_probe(await conn.channel(publisher_confirms=False))

    def _start_probe(self, channel: AbstractChannel) -> None:
        if self._probe is not None:
            self._probe.cancel()
        self._probe = asyncio.create_task(
            self._alarm_probe(channel), name=f"alarm-probe-{self.name}"
        )

    async def _alarm_probe(self, channel: AbstractChannel) -> None:
        """Publish a message nobody receives, so RabbitMQ tells this connection at once when it
        blocks publishers, not at the first real publish."""
        probe = aio_pika.Message(b"", delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT)
        while not channel.is_closed:
            if self.blocked is None:
                with contextlib.suppress(Exception):
                    await channel.default_exchange.publish(
                        probe, ALARM_PROBE_KEY, mandatory=False, timeout=5
                    )
            await asyncio.sleep(ALARM_PROBE_SECONDS)
