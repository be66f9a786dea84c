"""One webhook request and what it comes to: the shared HTTP session, headers and signature,
and the reading of the answer as delivered, retry (with ``Retry-After``) or dead."""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from importlib.metadata import PackageNotFoundError, version

import aiohttp
from prometheus_client import Counter, Gauge, Histogram

from adapters.webhook.breaker import Verdict
from adapters.webhook.endpoints import Deferral, Endpoints
from adapters.webhook.signing import WebhookSecret, apply_jwt_key, signature_headers
from router.constants import HTTP_HEADER_DELIVERY
from router.delivery.adapter import Dead, Delivered, Retry, RetryPolicy
from router.netguard import REFUSED, Guard

try:
    USER_AGENT = f"evrouter/{version('evrouter')}"
except PackageNotFoundError:  # running from a source tree
    USER_AGENT = "evrouter"

# How much of an error answer is kept for logs and DLQ headers.
ERROR_BODY_CHARS = 300
# How much of any answer is kept for the attempt history; more is never read.
RESPONSE_BYTES = 2048
# A receiver that accepted an event but is slow to finish its body has still accepted it: the
# body is kept only when it comes within this long.
ACCEPTED_BODY_SECONDS = 2.0

REQUESTS = Counter(
    "router_webhook_requests_total",
    "Webhook requests by outcome and status class",
    ["outcome", "status_class"],
)
REQUEST_SECONDS = Histogram(
    "router_webhook_request_seconds",
    "Duration of one webhook request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_FLIGHT = Gauge("router_webhook_in_flight", "Webhook requests in flight", ["endpoint"])
DEFERRED = Counter(
    "router_webhook_deferred_total",
    "Webhook events deferred to a delay queue without an attempt, by why",
    ["why"],
)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def verdict_of(result: Delivered | Retry | Dead | None) -> Verdict:
    """What a request's result says about its receiver."""
    if result is None or (isinstance(result, Dead) and result.status is None):
        return Verdict.NEUTRAL  # not sent, or cut short by the router
    if isinstance(result, Delivered) or (
        result.status is not None and result.status < 500 and result.status != 429
    ):
        return Verdict.SUCCESS
    return Verdict.FAILURE


async def read_start(content: aiohttp.StreamReader, limit: int = RESPONSE_BYTES) -> str:
    """The first ``limit`` bytes of a body as text, reading no further however long it is; a
    character cut in two at the limit is left out rather than garbled."""
    data = bytearray()
    while len(data) < limit:
        chunk = await content.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return decoder.decode(bytes(data), final=len(data) < limit)


def status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status else "none"


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    event_id: str
    headers: Mapping[str, str]
    secrets: tuple[WebhookSecret, ...] = ()
    # The operator's own URL (from the environment), not one an API caller gave: the SSRF
    # guard's private-network rule does not apply to it.
    operator: bool = False


Result = Delivered | Retry | Dead


# aiohttp writes a bytes body in one go, blocking the loop for a large one; a file-like body is
# written in chunks.
LARGE_BODY_BYTES = 1024 * 1024


def payload_of(body: bytes) -> bytes | io.BytesIO:
    return io.BytesIO(body) if len(body) > LARGE_BODY_BYTES else body


class Sender:
    def __init__(
        self,
        policy: RetryPolicy,
        non_retryable: frozenset[int],
        timeout_ms: int,
        endpoints: Endpoints,
        guard: Guard | None = None,
    ) -> None:
        self.policy = policy
        self.non_retryable = non_retryable
        self.timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)
        self.timeout_ms = timeout_ms
        self.endpoints = endpoints
        self.guard = guard or Guard()
        # The operator's URLs: metadata and link-local addresses only (and the allow-list).
        self.operator_guard = replace(self.guard, deny_private=False)
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def _new_session(self, guard: Guard) -> aiohttp.ClientSession:
        # One session per rule set for the process: keep-alive connections are reused across
        # events. The guard sees every address a connection is made to, after DNS.
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, ttl_dns_cache=60, socket_factory=guard.socket_factory
        )
        return aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, headers={"User-Agent": USER_AGENT}
        )

    async def start(self) -> None:
        if not self._sessions:
            customers = self._new_session(self.guard)
            same = self.operator_guard == self.guard
            operator = customers if same else self._new_session(self.operator_guard)
            self._sessions = {False: customers, True: operator}

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in {id(s): s for s in sessions.values()}.values():
            await session.close()

    def headers_for(self, request: Request) -> dict[str, str]:
        headers = apply_jwt_key(request.headers)
        headers["Content-Type"] = "application/json"
        headers[HTTP_HEADER_DELIVERY] = request.event_id
        headers.update(signature_headers(request.secrets, request.event_id, request.body))
        return headers

    async def send(self, request: Request, attempt: int, due: float | None = None) -> Result:
        """``due``: the turn the event was given when it was deferred before."""
        admission = await self.endpoints.acquire(request.url, len(request.body), due)
        if isinstance(admission, Deferral):
            DEFERRED.labels(why=admission.kind).inc()
            return Retry(
                admission.reason,
                delay=admission.delay,
                destination=request.url,
                counts=False,
                due=admission.due,
            )
        IN_FLIGHT.labels(endpoint=admission.endpoint).inc()
        started = time.perf_counter()
        result: Result | None = None
        try:
            result = await self._post(request, attempt)
        except ValueError as exc:
            # The request itself cannot be built (a bad header): no retry will fix it.
            result = Dead(f"request not sent: {exc}", destination=request.url)
            return result
        finally:
            IN_FLIGHT.labels(endpoint=admission.endpoint).dec()
            REQUEST_SECONDS.observe(time.perf_counter() - started)
            # No result: cut short by the router (shutdown, a timeout of its own), which
            # says nothing about the receiver.
            self.endpoints.release(admission, verdict_of(result))
            if result is not None:
                REQUESTS.labels(
                    outcome=type(result).__name__.lower(),
                    status_class=status_class(result.status),
                ).inc()
        return result

    async def _post(self, request: Request, attempt: int) -> Result:
        session = self._sessions.get(request.operator)
        if session is None:
            raise RuntimeError("the webhook sender is not started")
        url = request.url
        try:
            async with session.post(
                url,
                data=payload_of(request.body),
                headers=self.headers_for(request),
                allow_redirects=False,
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return Delivered(
                        destination=url, status=status, response=await accepted_body(response)
                    )
                text = await read_start(response.content)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                location = response.headers.get("Location")
        except TimeoutError:
            return Retry(f"no answer within {self.timeout_ms} ms", destination=url)
        except aiohttp.ClientConnectorError as exc:
            if REFUSED in str(exc.os_error):
                # The URL's address is one the router must not reach: no retry changes that.
                return Dead(f"{exc.os_error} (not retried)", destination=url)
            return Retry(f"request failed: {type(exc).__name__}: {exc}", destination=url)
        except aiohttp.ClientError as exc:
            return Retry(f"request failed: {type(exc).__name__}: {exc}", destination=url)
        return self.judge(url, status, text, retry_after, attempt, location)

    def judge(
        self,
        url: str,
        status: int,
        text: str,
        retry_after: float | None,
        attempt: int,
        location: str | None = None,
    ) -> Result:
        """``text``: the start of the answer's body, kept whole as the attempt's response."""
        shown = text[:ERROR_BODY_CHARS].strip()
        error = f"HTTP {status}" + (f": {shown}" if shown else "")
        if 300 <= status < 400:
            error = f"HTTP {status}: redirect to {location} not followed; fix the URL"
        if status in self.non_retryable:
            return Dead(f"{error} (not retried)", destination=url, status=status, response=text)
        delay = None
        if status in (429, 503) and retry_after is not None:
            # The receiver's wish, kept within [delay, 2 x delay] of the configured backoff.
            base = self.policy.delay_for(attempt)
            delay = min(max(retry_after, base), 2 * base)
        return Retry(error, delay=delay, destination=url, status=status, response=text)


async def accepted_body(response: aiohttp.ClientResponse) -> str | None:
    """The start of an accepting answer's body; None when it does not come in time or the
    connection breaks while it comes, which does not undo the acceptance."""
    try:
        async with asyncio.timeout(ACCEPTED_BODY_SECONDS):
            return await read_start(response.content)
    except (TimeoutError, aiohttp.ClientError):
        return None
