"""The Pusher stand-in judged by the real ``pusher`` library: whatever the library signs must be
accepted and recorded as sent, and what Pusher refuses must be refused with Pusher's status."""

from __future__ import annotations

import asyncio
import json
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pusher
import pusher.errors
import pusher.http
import pytest

from tests.support.pusher_standin import PusherStandIn, Triggered, running_pusher

APP_ID, KEY, SECRET = "123456", "key-abc", "secret-xyz"

# One UTF-8 byte over the limit in two-byte characters, and the same character count in ASCII,
# which is well under it: the limit is on encoded bytes, not on characters.
OVER_LIMIT = "é" * 5120 + "a"
SAME_COUNT_ASCII = "a" * len(OVER_LIMIT)

ClientFactory = Callable[..., Any]


@pytest.fixture
async def standin() -> AsyncIterator[PusherStandIn]:
    async with running_pusher({APP_ID: (KEY, SECRET)}) as s:
        yield s


@pytest.fixture
def make_client(standin: PusherStandIn) -> Iterator[ClientFactory]:
    made: list[Any] = []

    def make(app_id: str = APP_ID, key: str = KEY, secret: str = SECRET) -> Any:
        client = pusher.Pusher(app_id, key, secret, host=standin.host, port=standin.port, ssl=False)
        for inner in (client._pusher_client, client._authentication_client):
            # Loopback calls must not be routed through a proxy named in the environment.
            inner.http.session.trust_env = False
        made.append(client)
        return client

    yield make
    # The library never closes its sessions; left open, their sockets warn when collected.
    for client in made:
        client._pusher_client.http.session.close()
        client._authentication_client.http.session.close()


@pytest.fixture
def client(make_client: ClientFactory) -> Any:
    return make_client()


def signed_by_library(client: Any, path: str, body: bytes) -> tuple[str, dict[str, str]]:
    """URL and headers the library produces for ``body``, for bodies ``trigger`` never sends.

    The library signs whatever body its request holds, so swapping the body in before signing
    keeps every signature in these tests the library's own."""
    request = pusher.http.Request(client._pusher_client, "POST", path, {})
    request.body = body
    request.query_params = {}
    request._generate_auth()
    return request.url, request.headers


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def post_signed(client: Any, path: str, body: bytes) -> tuple[int, str]:
    url, headers = signed_by_library(client, path, body)
    return await post(url, body, headers)


def events_path(kind: str = "events") -> str:
    return f"/apps/{APP_ID}/{kind}"


# -- accepted and recorded ---------------------------------------------------------------------


async def test_trigger_is_recorded_exactly(standin: PusherStandIn, client: Any) -> None:
    payload = {"id": "wamid.1", "text": "olá €"}

    answer = await asyncio.to_thread(client.trigger, "private-inst-1", "message.received", payload)

    expected = Triggered(
        APP_ID, "private-inst-1", "message.received", json.dumps(payload, ensure_ascii=False)
    )
    assert answer == {}
    assert standin.triggered == [expected]
    assert await standin.next() == expected
    assert standin.calls == {"events": 1}
    assert standin.refused == []


async def test_trigger_to_many_channels_records_one_event_per_channel(
    standin: PusherStandIn, client: Any
) -> None:
    await asyncio.to_thread(client.trigger, ["a", "b-1", "c=@,.;_"], "ev", "plain text")

    assert standin.triggered == [
        Triggered(APP_ID, channel, "ev", "plain text") for channel in ("a", "b-1", "c=@,.;_")
    ]


async def test_trigger_batch_is_recorded_in_order(standin: PusherStandIn, client: Any) -> None:
    batch: list[dict[str, Any]] = [
        {"channel": f"chan-{i}", "name": f"ev-{i}", "data": {"n": i} if i % 2 else f"text {i} ✓"}
        for i in range(10)
    ]
    # The library rewrites the data fields in place, so keep what the test expects first.
    expected = [
        Triggered(
            APP_ID,
            e["channel"],
            e["name"],
            e["data"] if isinstance(e["data"], str) else json.dumps(e["data"]),
        )
        for e in batch
    ]

    answer = await asyncio.to_thread(client.trigger_batch, batch)

    assert answer == {}
    assert standin.triggered == expected
    assert [await standin.next() for _ in expected] == expected
    assert standin.calls == {"batch_events": 1}


async def test_socket_id_is_recorded(standin: PusherStandIn, client: Any) -> None:
    await asyncio.to_thread(client.trigger, "c", "ev", "d", "123.456")

    assert standin.triggered == [Triggered(APP_ID, "c", "ev", "d", socket_id="123.456")]


async def test_apps_added_after_start_are_served(
    standin: PusherStandIn, make_client: ClientFactory
) -> None:
    standin.add_app("777", "other-key", "other-secret")

    await asyncio.to_thread(make_client("777", "other-key", "other-secret").trigger, "c", "ev", "x")

    assert standin.triggered == [Triggered("777", "c", "ev", "x")]


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_id", "key", "secret"),
    [
        pytest.param(APP_ID, KEY, "wrong-secret", id="wrong-secret"),
        pytest.param(APP_ID, "wrong-key", SECRET, id="wrong-key"),
        pytest.param("999", KEY, SECRET, id="unknown-app"),
    ],
)
async def test_bad_credentials_are_refused_401(
    standin: PusherStandIn, make_client: ClientFactory, app_id: str, key: str, secret: str
) -> None:
    with pytest.raises(pusher.errors.PusherBadAuth):
        await asyncio.to_thread(make_client(app_id, key, secret).trigger, "c", "ev", "d")
    with pytest.raises(pusher.errors.PusherBadAuth):
        await asyncio.to_thread(
            make_client(app_id, key, secret).trigger_batch,
            [{"channel": "c", "name": "e", "data": "d"}],
        )

    assert standin.triggered == []
    assert standin.calls == {"events": 1, "batch_events": 1}
    assert [status for status, _ in standin.refused] == [401, 401]


async def test_tampered_body_is_refused_401(standin: PusherStandIn, client: Any) -> None:
    request = client._pusher_client.trigger.make_request("c", "ev", "amount: 10")
    tampered = request.body.replace(b"10", b"99")
    assert tampered != request.body

    status, text = await post(request.url, tampered, request.headers)

    assert status == 401
    assert "body_md5" in text
    assert standin.triggered == []
    # The untouched original still passes, so only the tampering was refused.
    assert (await post(request.url, request.body, request.headers))[0] == 200


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-601, False), (601, False), (-590, True), (590, True)],
)
async def test_timestamp_must_be_within_600_seconds(
    standin: PusherStandIn,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    offset: int,
    accepted: bool,
) -> None:
    real_time = time.time
    monkeypatch.setattr(
        pusher.http, "time", types.SimpleNamespace(time=lambda: real_time() + offset)
    )

    if accepted:
        await asyncio.to_thread(client.trigger, "c", "ev", "d")
        assert len(standin.triggered) == 1
    else:
        with pytest.raises(pusher.errors.PusherBadAuth, match="Timestamp expired"):
            await asyncio.to_thread(client.trigger, "c", "ev", "d")
        assert standin.triggered == []


async def test_missing_auth_params_are_refused_401(standin: PusherStandIn, client: Any) -> None:
    url, headers = signed_by_library(client, events_path(), b"{}")

    status, _ = await post(url.split("?")[0], b"{}", headers)

    assert status == 401


# -- payload limits ----------------------------------------------------------------------------


async def test_eleven_events_in_a_batch_are_refused_400(
    standin: PusherStandIn, client: Any
) -> None:
    batch = [{"channel": "c", "name": "ev", "data": str(i)} for i in range(11)]

    with pytest.raises(pusher.errors.PusherBadRequest, match="Batch too large"):
        await asyncio.to_thread(client.trigger_batch, batch)

    assert standin.triggered == []
    assert standin.refused == [(400, "Batch too large: 11 events, at most 10")]


@pytest.mark.parametrize("endpoint", ["trigger", "trigger_batch"])
async def test_data_limit_counts_utf8_bytes(
    standin: PusherStandIn, client: Any, endpoint: str
) -> None:
    assert len(OVER_LIMIT.encode()) == 10241
    assert len(SAME_COUNT_ASCII) == len(OVER_LIMIT)

    async def send(data: str) -> Any:
        if endpoint == "trigger":
            return await asyncio.to_thread(client.trigger, "c", "ev", data)
        return await asyncio.to_thread(
            client.trigger_batch, [{"channel": "c", "name": "ev", "data": data}]
        )

    with pytest.raises(pusher.errors.PusherBadStatus, match=r"^413: Event data too large: 10241"):
        await send(OVER_LIMIT)
    await send(SAME_COUNT_ASCII)
    await send(OVER_LIMIT[:-1])  # exactly 10240 bytes is still allowed

    assert [t.data for t in standin.triggered] == [SAME_COUNT_ASCII, OVER_LIMIT[:-1]]
    assert [status for status, _ in standin.refused] == [413]


async def test_channel_name_limit_is_164(standin: PusherStandIn, client: Any) -> None:
    # The library allows up to 200 characters, so the stand-in must be the one to refuse.
    with pytest.raises(pusher.errors.PusherBadRequest, match="Channel name too long"):
        await asyncio.to_thread(client.trigger, "c" * 165, "ev", "d")
    await asyncio.to_thread(client.trigger, "c" * 164, "ev", "d")

    assert [t.channel for t in standin.triggered] == ["c" * 164]


async def test_event_name_limit_is_200(standin: PusherStandIn, client: Any) -> None:
    await asyncio.to_thread(client.trigger, "c", "e" * 200, "d")
    body = json.dumps({"name": "e" * 201, "channels": ["c"], "data": "d"}).encode()

    status, text = await post_signed(client, events_path(), body)

    assert (status, text) == (400, "Event name too long: 201 characters, at most 200")
    assert [t.name for t in standin.triggered] == ["e" * 200]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        pytest.param(
            "events", b'{"name": "ev", "channels": ["c"], "data": "d"', id="malformed-json"
        ),
        pytest.param("events", b'["not", "an", "object"]', id="not-an-object"),
        pytest.param(
            "events", b'{"name": "ev", "channels": ["c"], "data": {"a": 1}}', id="data-object"
        ),
        pytest.param("events", b'{"name": "ev", "channel": "c", "data": 5}', id="data-number"),
        pytest.param(
            "events", b'{"name": "ev", "channels": ["a#b"], "data": "d"}', id="channel-chars"
        ),
        pytest.param(
            "events", b'{"name": "ev", "channels": ["c", ""], "data": "d"}', id="channel-empty"
        ),
        pytest.param("events", b'{"name": "ev", "channels": [], "data": "d"}', id="no-channels"),
        pytest.param(
            "events",
            b'{"name": "ev", "channel": "c", "channels": ["c"], "data": "d"}',
            id="both-channel-forms",
        ),
        pytest.param("events", b'{"channels": ["c"], "data": "d"}', id="no-name"),
        pytest.param(
            "events",
            b'{"name": "ev", "channels": ["c"], "data": "d", "socket_id": "x"}',
            id="bad-socket-id",
        ),
        pytest.param("batch_events", b'{"batch": []}', id="empty-batch"),
        pytest.param(
            "batch_events", b'{"batch": [{"name": "ev", "data": "d"}]}', id="batch-no-channel"
        ),
        pytest.param(
            "batch_events",
            b'{"batch": [{"channel": "c", "name": "ev", "data": "d"}, {"channel": "c", "name": "ev", "data": []}]}',
            id="batch-data-list",
        ),
    ],
)
async def test_malformed_payloads_are_refused_400(
    standin: PusherStandIn, client: Any, kind: str, body: bytes
) -> None:
    status, _ = await post_signed(client, events_path(kind), body)

    assert status == 400
    # A batch with one bad event publishes none of it.
    assert standin.triggered == []
    assert standin.calls == {kind: 1}


async def test_single_channel_form_is_accepted(standin: PusherStandIn, client: Any) -> None:
    body = json.dumps({"name": "ev", "channel": "solo", "data": "d"}).encode()

    assert await post_signed(client, events_path(), body) == (200, "{}")
    assert standin.triggered == [Triggered(APP_ID, "solo", "ev", "d")]


# -- faults and bookkeeping --------------------------------------------------------------------


async def test_fail_next_answers_the_planned_status_then_recovers(
    standin: PusherStandIn, client: Any
) -> None:
    standin.fail_next(500, times=2, body="server melted")

    for _ in range(2):
        with pytest.raises(pusher.errors.PusherBadStatus, match=r"^500: server melted$"):
            await asyncio.to_thread(client.trigger, "c", "ev", "d")
    await asyncio.to_thread(client.trigger, "c", "ev", "d")

    assert standin.triggered == [Triggered(APP_ID, "c", "ev", "d")]
    assert standin.calls == {"events": 3}
    assert standin.refused == [(500, "server melted"), (500, "server melted")]


async def test_fail_next_403_reaches_the_library_as_forbidden(
    standin: PusherStandIn, client: Any
) -> None:
    standin.fail_next(403, times=1, body="over quota")

    with pytest.raises(pusher.errors.PusherForbidden, match="over quota"):
        await asyncio.to_thread(client.trigger_batch, [{"channel": "c", "name": "ev", "data": "d"}])
    assert standin.triggered == []
    assert standin.pending_faults == 0


async def test_fail_next_waits_for_an_authenticated_request(
    standin: PusherStandIn, make_client: ClientFactory
) -> None:
    standin.fail_next(500, times=1)

    with pytest.raises(pusher.errors.PusherBadAuth):
        await asyncio.to_thread(make_client(secret="wrong").trigger, "c", "ev", "d")
    assert standin.pending_faults == 1
    with pytest.raises(pusher.errors.PusherBadStatus, match=r"^500:"):
        await asyncio.to_thread(make_client().trigger, "c", "ev", "d")

    assert [status for status, _ in standin.refused] == [401, 500]


async def test_unknown_paths_are_counted_and_refused(standin: PusherStandIn) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{standin.url}/apps/{APP_ID}/channels") as response,
    ):
        assert response.status == 404

    assert standin.calls == {"other": 1}
    assert standin.refused[0][0] == 404


async def test_next_times_out_when_nothing_arrives(standin: PusherStandIn) -> None:
    with pytest.raises(TimeoutError):
        await standin.next(timeout=0.05)


async def test_running_pusher_stops_listening_on_exit() -> None:
    async with running_pusher({APP_ID: (KEY, SECRET)}) as s:
        url = s.url
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 404

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url):
                pass
