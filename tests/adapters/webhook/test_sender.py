"""Reading a receiver's answer: delivered, retried (with Retry-After) or dead."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import adapters.webhook.sender
from adapters.webhook.endpoints import Endpoints
from adapters.webhook.sender import RESPONSE_BYTES, Request, Sender, parse_retry_after
from router.delivery.adapter import Dead, Delivered, Retry, RetryPolicy
from tests.support.receiver import Answer, Receiver

POLICY = RetryPolicy(max_attempts=10, initial_delay=5, exponential=True, max_delay=300, jitter=0)


def sender(timeout_ms: int = 2000) -> Sender:
    endpoints = Endpoints(16, 5, cooldown=lambda n: 1.0)
    return Sender(POLICY, frozenset({400, 401, 403, 404, 422}), timeout_ms, endpoints)


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 7 ") == 7
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    parsed = parse_retry_after(future)
    assert parsed is not None
    assert 58 <= parsed <= 61
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "retry_after", "attempt", "kind", "delay"),
    [
        (404, None, 1, Dead, None),
        (422, None, 3, Dead, None),
        (500, None, 1, Retry, None),
        (409, None, 1, Retry, None),
        (429, 1.0, 1, Retry, 5.0),  # below the backoff: raised to it
        (429, 7.0, 1, Retry, 7.0),  # within [5, 10]: as asked
        (503, 3600.0, 2, Retry, 20.0),  # above twice the backoff (10): capped
        (503, None, 1, Retry, None),
        (301, None, 1, Retry, None),
    ],
)
def test_judging_answers(
    status: int, retry_after: float | None, attempt: int, kind: type, delay: float | None
) -> None:
    result = sender().judge("http://x/h", status, "nope", retry_after, attempt, "http://y/")
    assert isinstance(result, kind)
    assert result.status == status
    assert result.destination == "http://x/h"
    if isinstance(result, Retry):
        assert result.delay == delay
        assert result.counts
    if status == 301:
        assert "redirect to http://y/ not followed" in str(result)


async def test_timeouts_and_refused_connections_are_retried(receiver: Receiver) -> None:
    receiver.script = lambda _r, _n: Answer(hang=2)
    s = sender(timeout_ms=200)
    await s.start()
    try:
        body = b'{"a": 1}'
        slow = await s.send(Request(f"{receiver.base}/slow", body, "id-1", {}), 1)
        assert isinstance(slow, Retry)
        assert "no answer within 200 ms" in slow.error
        refused = await s.send(Request("http://127.0.0.1:1/x", body, "id-2", {}), 1)
        assert isinstance(refused, Retry)
        assert "request failed" in refused.error
        receiver.script = lambda _r, _n: Answer(status=204)
        ok = await s.send(Request(f"{receiver.base}/ok", body, "id-3", {"X-Tenant": "t1"}), 1)
        assert isinstance(ok, Delivered)
        got = receiver.requests[-1]
        assert got.body == body
        assert got.headers["X-Tenant"] == "t1"
        assert got.headers["webhook-id"] == "id-3"
        assert got.headers["User-Agent"].startswith("evrouter/")
        assert got.headers["Content-Type"] == "application/json"
    finally:
        await s.close()


async def test_a_request_that_cannot_be_built_is_dead_not_retried() -> None:
    from router.delivery.adapter import Dead

    s = sender()
    await s.start()
    try:
        result = await s.send(Request("http://127.0.0.1:1/x", b"{}", "id", {"jwt_key": ""}), 1)
    finally:
        await s.close()
    assert isinstance(result, Dead)
    assert "request not sent" in result.reason


# --- the answer kept for the attempt history ---------------------------------------------------


async def send_to(url: str, attempt: int = 1) -> Delivered | Retry | Dead:
    s = sender()
    await s.start()
    try:
        return await s.send(Request(url, b"{}", "id-r", {}), attempt)
    finally:
        await s.close()


@pytest.mark.parametrize("status", [200, 500, 404])
async def test_the_start_of_a_long_answer_is_kept_whatever_it_says(
    receiver: Receiver, status: int
) -> None:
    body = b"0123456789" * 100_000  # a megabyte
    receiver.script = lambda _r, _n: Answer(status=status, body=body)
    result = await send_to(f"{receiver.base}/long")
    assert result.response == body[:RESPONSE_BYTES].decode()
    if not isinstance(result, Delivered):
        message = result.error if isinstance(result, Retry) else result.reason
        assert len(message) < 350  # the error message stays short


async def test_a_character_cut_by_the_limit_is_left_out(receiver: Receiver) -> None:
    body = ("a" * (RESPONSE_BYTES - 1) + "é" + "tail").encode()
    receiver.script = lambda _r, _n: Answer(body=body)
    result = await send_to(f"{receiver.base}/utf8")
    assert result.response == "a" * (RESPONSE_BYTES - 1)
    receiver.script = lambda _r, _n: Answer(body="ça marche".encode())
    assert (await send_to(f"{receiver.base}/short")).response == "ça marche"
    receiver.script = lambda _r, _n: Answer(status=204, body=b"")
    assert (await send_to(f"{receiver.base}/empty")).response == ""


@pytest.fixture
async def slow_body() -> AsyncIterator[str]:
    """A receiver that accepts at once, then never finishes its body."""

    async def accept(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_length = 100
        await response.prepare(request)
        await response.write(b"accepted, ")
        await asyncio.sleep(30)
        return response

    app = web.Application()
    app.router.add_post("/slow", accept)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/slow"
    finally:
        await runner.cleanup()


async def test_an_acceptance_whose_body_never_ends_is_still_delivered(
    slow_body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapters.webhook.sender, "ACCEPTED_BODY_SECONDS", 0.2)
    started = time.monotonic()
    result = await send_to(slow_body)
    assert isinstance(result, Delivered)
    assert result.response is None
    assert time.monotonic() - started < 1.5
