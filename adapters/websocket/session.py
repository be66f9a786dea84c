"""One connected client, from the upgrade to the close, resuming first when it asks to."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
from typing import Final

from aiohttp import WSMsgType, web

from adapters.websocket import frames
from adapters.websocket.hub import Audience, Client, Hub, WireFrame
from adapters.websocket.metrics import RESUMES
from adapters.websocket.stream import ReplayStalled, StreamEvent, replay, seek_for
from router.amqp.broker import Broker
from router.logging import get_logger
from schemas.ids import event_time_ms

log = get_logger("adapters.websocket")

# A resume that fails half-way (RabbitMQ lost) closes the client with "try again later"; it
# reconnects with the last id it saw and nothing is lost.
CLOSE_TRY_AGAIN: Final = 1013
# An id not found up to this process's position may have come from a gateway further along;
# it is awaited this long when its time is no older than this process's latest event (less a
# margin for clocks of different ingest hosts).
AHEAD_WAIT_SECONDS: Final = 5.0
CLOCK_SLACK_MS: Final = 1000


class Resume:
    """Replays what came after ``last_event_id`` up to offset ``until`` (the live reader's
    position when the client was registered), then the live frames held meanwhile."""

    def __init__(self, client: Audience, last_event_id: str, hub: Hub) -> None:
        self.client = client
        self.last_event_id = last_event_id
        self.hub = hub
        self.until = -1
        self.until_ms: int | None = None
        self.found = False
        self.replayed = 0

    def register(self) -> None:
        """Register the client and read the position together, with no await between: every
        offset after ``until`` reaches the held frames, every one up to it the replay."""
        assert self.hub.last_offset is not None
        self.until, self.until_ms = self.hub.last_offset, self.hub.last_event_ms
        self.client.held = collections.deque()
        self.hub.add(self.client)

    async def on_event(self, event: StreamEvent) -> None:
        if not self.found:
            self.found = event.id == self.last_event_id
            return
        if self.client.closed:
            raise asyncio.CancelledError
        client = self.client
        to_instance, to_all = self.hub.permits(event.instance, event.event)
        if client.sees(event.instance, event.event, to_instance, to_all):
            wire = self.hub.frame_for(client, WireFrame(event.frame, event.event), event.instance)
            if wire is not None:
                await client.put(wire)
                self.replayed += 1

    async def run(self, broker: Broker, stream: str, limit: asyncio.Semaphore) -> None:
        # Registered only once a replay slot is free: a client waiting for one holds no frames.
        async with limit:
            self.register()
            start = seek_for(self.last_event_id, self.hub.recent)
            try:
                await replay(broker.connection, stream, start, self.until, self.on_event)
            except ReplayStalled:
                # RabbitMQ went quiet on this connection: start it over. The live reader goes
                # on from its last offset; this client is closed to resume again.
                broker.connection_lost("a replay stalled")
                raise
        if not self.found and self.may_be_ahead():
            await self.catch_up()
        client = self.client
        if self.found:
            done = WireFrame(frames.resumed(self.last_event_id, self.replayed), frames.RESUMED)
        else:
            done = WireFrame(
                frames.history_unavailable(self.last_event_id), frames.HISTORY_UNAVAILABLE
            )
        await client.put(done)
        RESUMES.labels(result="replayed" if self.found else "unavailable").inc()
        log.info(
            "websocket.resumed",
            instance=client.instance or "*",
            last_event_id=self.last_event_id,
            found=self.found,
            replayed=self.replayed,
            held=len(client.held or ()),
        )
        held = client.held
        while held:
            _, wire = held.popleft()
            await client.put(wire)
        client.held = None  # no await since the last check: the next live frame queues directly

    def may_be_ahead(self) -> bool:
        """Whether ``last_event_id`` may be newer than anything this process had read: the
        client saw it on another gateway that is further along the stream."""
        made = event_time_ms(self.last_event_id)
        return made is not None and (self.until_ms is None or made > self.until_ms - CLOCK_SLACK_MS)

    async def catch_up(self) -> None:
        """Wait a little for ``last_event_id`` to come live; once it has, drop the held frames
        up to it, which the client already has."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AHEAD_WAIT_SECONDS
        while True:
            offset = self.hub.recent.get(self.last_event_id)
            if offset is not None and offset > self.until:
                held = self.client.held
                while held and held[0][0] <= offset:
                    held.popleft()
                self.found = True
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await asyncio.shield(self.hub.moved())
            except TimeoutError:
                return


async def serve(
    ws: web.WebSocketResponse,
    client: Client,
    hub: Hub,
    *,
    last_event_id: str | None,
    broker: Broker,
    stream: str,
    replays: asyncio.Semaphore,
) -> None:
    """Register the client, resume if asked, and keep it until either side closes."""
    resume: asyncio.Task[None] | None = None
    if last_event_id is not None and hub.last_offset is not None:
        job = Resume(client, last_event_id, hub)
        resume = asyncio.create_task(job.run(broker, stream, replays))
        resume.add_done_callback(functools.partial(resume_done, client, hub))
    else:
        hub.add(client)
    client.writer = asyncio.create_task(client.write_forever())
    log.info("websocket.connected", instance=client.instance or "*", peer=client.peer)
    try:
        async for message in ws:
            # Clients have nothing to say; anything but control frames is ignored.
            if message.type == WSMsgType.ERROR:
                break
    finally:
        if resume is not None and not resume.done():
            resume.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await resume
        if not client.closed:
            client.closed = True
            hub.discard(client)
            if client.writer is not None:
                client.writer.cancel()
        log.info(
            "websocket.disconnected",
            instance=client.instance or "*",
            peer=client.peer,
            code=ws.close_code,
        )


def resume_done(client: Audience, hub: Hub, task: asyncio.Task[None]) -> None:
    """A resume that failed closes the client, which reconnects and resumes again."""
    if task.cancelled() or task.exception() is None or client.closed:
        return
    log.warning(
        "websocket.resume_failed", instance=client.instance or "*", error=str(task.exception())
    )
    hub.drop(client, CLOSE_TRY_AGAIN, "resume failed; reconnect with last_event_id", "resume")
