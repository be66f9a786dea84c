"""Evolution's webhook as Evolution sends it: the key in the path, every catalog event with
by-events on and off, a retried body is the same event, and what cannot be used is kept with
its reason before it is refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest
from aio_pika.abc import AbstractChannel
from structlog.testing import capture_logs

from router.delivery import dlq as dlq_ops
from router.http.appkeys import BROKER
from router.http.evolution_webhook import Route, event_ms, evolution_suffix, route_of, to_envelope
from router.http.requests import Refused
from schemas import CATALOG
from tests.conftest import BindQueue, Cleanup
from tests.support.amqp import depth, next_message
from tests.support.app import API_KEY, router_settings, running_app
from tests.support.evolution import EvolutionWebhook, suffix_of
from tests.support.proxy import TcpProxy

GLOBAL_URL = f"/ingest/evolution/{API_KEY}"


# -- what the path says, without I/O --


@pytest.mark.parametrize(
    ("segments", "route"),
    [
        ((), Route(None, None)),
        ((API_KEY,), Route(API_KEY, None)),
        (("messages-upsert",), Route(None, "messages-upsert")),
        (("wrong", "messages-upsert"), Route("wrong", "messages-upsert")),
        ((API_KEY, "call"), Route(API_KEY, "call")),
    ],
)
def test_route_of_reads_key_and_suffix(segments: tuple[str, ...], route: Route) -> None:
    assert route_of(segments, API_KEY) == route


def test_without_a_configured_key_one_segment_is_a_suffix() -> None:
    assert route_of(("anything",), "") == Route(None, "anything")


@pytest.mark.parametrize("event", CATALOG, ids=lambda e: e.key)
def test_suffix_is_evolutions_and_the_catalogs(event: object) -> None:
    wire = getattr(event, "wire")  # noqa: B009 - parametrised over catalog rows
    assert evolution_suffix(wire) == suffix_of(wire) == getattr(event, "url_suffix")  # noqa: B009


def test_an_event_the_catalog_does_not_know_is_routed_under_its_own_name() -> None:
    raw = EvolutionWebhook(GLOBAL_URL).body("creds.update", "inst", {"creds": {}})
    envelope = to_envelope(orjson.loads(raw), raw, None)
    assert envelope.event == "creds.update"
    assert envelope.routing_key == "inst.creds.update"


def test_event_ms_reads_evolutions_date_time() -> None:
    moment = datetime(2026, 12, 2, 9, 30, 0, 123_000, tzinfo=UTC)
    assert event_ms("2026-12-02T09:30:00.123Z") == int(moment.timestamp() * 1000)
    assert event_ms("not a time") is None
    assert event_ms(None) is None


def test_id_is_derived_from_the_body_and_destination_dropped() -> None:
    hook = EvolutionWebhook(GLOBAL_URL)
    raw = hook.body("messages.upsert", "inst", {"key": {"id": "3EB0"}}, at=datetime(2026, 1, 1))
    item = orjson.loads(raw)
    first, again = to_envelope(item, raw, None), to_envelope(item, raw, None)
    assert first.id == again.id
    assert first.destination is None
    assert first.server_url == "http://evolution:8080"
    other = hook.body("messages.upsert", "inst", {"key": {"id": "3EB1"}}, at=datetime(2026, 1, 1))
    assert to_envelope(orjson.loads(other), other, None).id != first.id
    given = "01932f1e-7c1e-7a4e-9f4e-2b1d8c1e5a10"
    assert to_envelope({**item, "id": given}, raw, None).id == given


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ([1], "invalid"),
        ({"instance": "inst"}, "invalid"),
        ({"event": "messages.upsert"}, "bad_instance"),
        ({"event": "Messages Upsert!", "instance": "inst"}, "unknown_event"),
        ({"event": "call", "instance": "inst", "date_time": "yesterday"}, "invalid"),
    ],
)
def test_unusable_bodies_say_why(item: object, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        to_envelope(item, orjson.dumps(item), None)
    assert refused.value.reason == reason
    assert refused.value.status == 422


# -- against RabbitMQ --


def resent(metrics_text: str) -> float:
    """The process-wide counter of resends answered from the ledger."""
    (line,) = [x for x in metrics_text.splitlines() if x.startswith("router_events_resent_total ")]
    return float(line.split()[1])


@pytest.mark.parametrize("by_events", [False, True], ids=["one-url", "by-events"])
async def test_every_catalog_event_gets_in_through_the_global_webhook(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup, by_events: bool
) -> None:
    queue = await bind_queue("inst.#")
    hook = EvolutionWebhook(GLOBAL_URL, by_events=by_events)
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        ids = {}
        for event in CATALOG:
            response = await client.post(
                hook.target(event.wire),
                data=hook.body(event.wire, "inst", {"n": event.key}),
                headers=hook.request_headers(),
            )
            assert response.status == 202, await response.text()
            ids[event.wire] = (await response.json())["id"]
    for event in CATALOG:
        message = await next_message(queue)
        body = orjson.loads(message.body)
        assert message.routing_key == f"inst.{event.wire}"
        assert body["id"] == message.message_id == ids[event.wire]
        assert body["data"] == {"n": event.key}
        assert "destination" not in body  # it held the router's key
        assert body["sender"] == "5511999999999@s.whatsapp.net"
    assert await depth(queue) == 0


async def test_a_retried_body_is_the_same_event_published_once(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("inst.#")
    hook = EvolutionWebhook(GLOBAL_URL)
    raw = hook.body("messages.upsert", "inst", {"key": {"id": "3EB0"}})
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        before = resent(await (await client.get("/metrics")).text())
        answers = [
            await client.post(hook.url, data=raw, headers=hook.request_headers()) for _ in range(3)
        ]
        assert [a.status for a in answers] == [202, 202, 202]
        ids = {(await a.json())["id"] for a in answers}
        after = resent(await (await client.get("/metrics")).text())
    assert len(ids) == 1
    assert orjson.loads((await next_message(queue)).body)["id"] in ids
    await asyncio.sleep(0.2)
    assert await depth(queue) == 0
    assert after - before == 2  # answered from the ledger, not published again


async def test_a_per_instance_webhook_sends_the_key_as_a_header(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("inst.#")
    hook = EvolutionWebhook("/ingest/evolution", by_events=True, headers={"apikey": API_KEY})
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        response = await client.post(
            hook.target("send.message.update"),
            data=hook.body("send.message.update", "inst", {}),
            headers=hook.request_headers(),
        )
        assert response.status == 202
        bare = EvolutionWebhook("/ingest/evolution", by_events=True)
        refused = await client.post(
            bare.target("call"), data=bare.body("call", "inst", {}), headers=bare.request_headers()
        )
        assert refused.status == 401
    assert (await next_message(queue)).routing_key == "inst.send.message.update"
    assert await depth(queue) == 0


async def test_a_wrong_key_is_refused_and_nothing_is_kept(
    amqp_url: str,
    exchange_name: str,
    bind_queue: BindQueue,
    channel: AbstractChannel,
    cleanup: Cleanup,
) -> None:
    queue = await bind_queue("#")
    hook = EvolutionWebhook("/ingest/evolution/wrong-key", by_events=True)
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        for event in ("call", "messages.upsert"):
            response = await client.post(
                hook.target(event),
                data=hook.body(event, "inst", {}),
                headers=hook.request_headers(),
            )
            assert response.status == 401
    dlq = await channel.declare_queue(f"{exchange_name}.ingest.dlq", passive=True)
    assert await depth(dlq) == 0
    assert await depth(queue) == 0


async def test_a_suffix_that_disagrees_is_logged_not_refused(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup
) -> None:
    queue = await bind_queue("inst.#")
    hook = EvolutionWebhook(GLOBAL_URL)
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        with capture_logs() as logs:
            response = await client.post(
                f"{GLOBAL_URL}/chats-update",
                data=hook.body("chats.upsert", "inst", {}),
                headers=hook.request_headers(),
            )
        assert response.status == 202
    assert (await next_message(queue)).routing_key == "inst.chats.upsert"
    (mismatch,) = [line for line in logs if line["event"] == "ingest.suffix_mismatch"]
    assert mismatch["suffix"] == "chats-update"
    assert mismatch["_event"] == "chats.upsert"
    assert all(API_KEY not in str(line) for line in logs)


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b'{"event": "messages.upsert", ', 400, "malformed_json"),
        (b'{"event": "MESSAGES UPSERT", "instance": "inst", "data": {}}', 422, "unknown_event"),
        (b'{"instance": "inst", "data": {}}', 422, "invalid"),
        (b'"messages.upsert"', 422, "invalid"),
    ],
)
async def test_what_cannot_be_used_is_kept_with_its_reason(
    amqp_url: str,
    exchange_name: str,
    channel: AbstractChannel,
    cleanup: Cleanup,
    raw: bytes,
    status: int,
    reason: str,
) -> None:
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        response = await client.post(f"{GLOBAL_URL}/messages-upsert", data=raw)
        assert response.status == status
        answer = await response.json()
    assert answer["error"] == reason
    assert answer["kept"] == f"{exchange_name}.ingest.dlq"
    # What `router dlq list ingest` shows.
    (letter,) = await dlq_ops.list_messages(amqp_url, answer["kept"])
    assert letter.reason == answer["message"]
    dlq = await channel.declare_queue(answer["kept"], passive=True)
    kept = await next_message(dlq)
    assert kept.body == raw
    assert kept.headers["x-router-reason"] == answer["message"]
    assert kept.headers["x-router-suffix"] == "messages-upsert"


async def test_an_unusable_body_is_not_refused_for_good_while_rabbitmq_is_away(
    amqp_port: int, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    proxy = TcpProxy("127.0.0.1", amqp_port)
    await proxy.start()
    settings = router_settings(f"amqp://guest:guest@127.0.0.1:{proxy.port}/", exchange_name)
    async with running_app(settings) as client:
        broker = client.app[BROKER]
        await proxy.cut()
        async with asyncio.timeout(10):
            while broker.ready:
                await asyncio.sleep(0.05)
        # Evolution gives up on a 400; a 503 makes it send the body again later.
        response = await client.post(GLOBAL_URL, data=b"{broken")
        assert response.status == 503
        assert response.headers["Retry-After"]
        await proxy.restore()
        await broker.wait_ready(30)
        again = await client.post(GLOBAL_URL, data=b"{broken")
        assert again.status == 400
    await proxy.cut()
    dlq = await channel.declare_queue(f"{exchange_name}.ingest.dlq", passive=True)
    assert (await next_message(dlq)).body == b"{broken"
    assert await depth(dlq) == 0


@pytest.mark.parametrize(
    "path", [f"{GLOBAL_URL}/", f"{GLOBAL_URL}//messages-upsert", f"{GLOBAL_URL}/messages-upsert/"]
)
async def test_a_url_given_with_a_trailing_slash_still_gets_in(
    amqp_url: str, exchange_name: str, bind_queue: BindQueue, cleanup: Cleanup, path: str
) -> None:
    # Evolution appends "/<suffix>" to the URL as the operator wrote it.
    queue = await bind_queue("inst.#")
    hook = EvolutionWebhook(GLOBAL_URL)
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        answer = await client.post(path, data=hook.body("messages.upsert", "inst", {}))
        assert answer.status == 202, await answer.text()
    assert (await next_message(queue)).routing_key == "inst.messages.upsert"


async def test_the_key_is_masked_in_what_is_kept(
    amqp_url: str, exchange_name: str, channel: AbstractChannel, cleanup: Cleanup
) -> None:
    raw = b'{"event": "No such", "instance": "i", "destination": "http://r/ingest/evolution/' + (
        API_KEY.encode() + b'"}'
    )
    async with running_app(router_settings(amqp_url, exchange_name)) as client:
        answer = await client.post(GLOBAL_URL, data=raw)
        assert answer.status == 422
    kept = await next_message(
        await channel.declare_queue(f"{exchange_name}.ingest.dlq", passive=True)
    )
    assert API_KEY.encode() not in kept.body
    assert b"/ingest/evolution/***" in kept.body


async def test_a_body_over_the_evolution_limit_is_refused_naming_its_instance_and_event(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    hook = EvolutionWebhook(GLOBAL_URL)
    raw = hook.body("messages.upsert", "Loja Centro", {"message": {"base64": "A" * 40_000}})
    settings = router_settings(amqp_url, exchange_name, router={"max_evolution_bytes": 20_000})

    async def in_chunks() -> AsyncIterator[bytes]:  # no Content-Length: read until the limit
        yield raw[:10_000]
        yield raw[10_000:]

    async with running_app(settings) as client:
        with capture_logs() as logs:
            answer = await client.post(GLOBAL_URL, data=raw)
            assert (answer.status, (await answer.json())["error"]) == (413, "too_large")
            # Refused before the rest is read: the client may see the answer or a closed socket.
            with contextlib.suppress(aiohttp.ClientConnectionError):
                chunked = await client.post(GLOBAL_URL, data=in_chunks())
                assert chunked.status == 413
    lines = [line for line in logs if line["event"] == "ingest.too_large"]
    assert len(lines) == 2
    assert all(
        (line["instance"], line["_event"]) == ("Loja Centro", "messages.upsert") for line in lines
    )
