"""No secret leaves the router. A real ``router run`` is given a distinct random secret in every
place one can be configured (its own key, the store's key, the signing secrets, a ``jwt_key``
and an ``Authorization`` header, a password and a token in a webhook's URL, a Pusher secret,
an instance's token), delivers, fails, retries and dead-letters, is asked every question that
could show one, and then nothing it wrote holds any of them: its output, its answers, its
metrics, its error reports, ``router config``, ``router dlq list`` and its database files."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography.fernet import Fernet

from router.amqp.topology import AdapterQueues
from router.config.settings import Settings
from router.config.store import SqliteStore
from router.delivery.adapter import RetryPolicy
from router.delivery.retryqueues import delays_ms
from schemas.instance_config import InstanceConfig, WebhookConfig
from tests.conftest import Cleanup
from tests.support.process import ROUTER_PYTHON, RouterProcess, clean_env
from tests.support.pusher_standin import PusherStandIn, running_pusher
from tests.support.receiver import Answer, Receiver, running_receiver

INSTANCE = "shop"
APP_ID = "app-1"
PUSHER_KEY = "pusher-public-key"
# Two attempts 0.1 s apart, so failures are dead-lettered and reported within a second.
RETRIES = {
    "retry_max_attempts": "2",
    "retry_initial_delay_seconds": "0.1",
    "retry_max_delay_seconds": "0.5",
    "retry_jitter_factor": "0",
    "retry_use_exponential_backoff": "false",
}


def whsec() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def hexed(name: str) -> str:
    return f"{name}{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Secrets:
    """One distinct random value per kind of secret."""

    api_key: str = field(default_factory=lambda: hexed("apikey"))
    store_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    global_signing: str = field(default_factory=whsec)
    hook_signing: str = field(default_factory=whsec)
    jwt_key: str = field(default_factory=lambda: hexed("jwtkey"))
    authorization: str = field(default_factory=lambda: hexed("authz"))
    pusher_secret: str = field(default_factory=lambda: hexed("pushsec"))
    token: str = field(default_factory=lambda: hexed("insttok"))
    url_password: str = field(default_factory=lambda: hexed("urlpw"))
    query_token: str = field(default_factory=lambda: hexed("qtoken"))

    def kept(self) -> dict[str, str]:
        """What must appear nowhere; a signing secret's key also on its own."""
        found = {name: value for name, value in vars(self).items() if not name.startswith("url")}
        found.pop("query_token")
        found["global_signing_key"] = self.global_signing.removeprefix("whsec_")
        found["hook_signing_key"] = self.hook_signing.removeprefix("whsec_")
        return found

    def in_url(self) -> dict[str, str]:
        return {"url_password": self.url_password, "query_token": self.query_token}


@dataclass
class Seen:
    """Everything the router wrote or answered, by where it came from."""

    texts: dict[str, bytes] = field(default_factory=dict)

    def add(self, where: str, body: bytes | str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.texts[f"{where} #{len(self.texts)}"] = data

    def leaks(self, needles: Mapping[str, str]) -> list[str]:
        return [
            f"{name} in {where}"
            for where, data in self.texts.items()
            for name, needle in needles.items()
            if needle.encode() in data
        ]


async def cli(env: Mapping[str, str], *args: str) -> bytes:
    """A ``router`` command's stdout and stderr together."""
    process = await asyncio.create_subprocess_exec(
        ROUTER_PYTHON,
        *("-m", "router", "--env-file", "/dev/null", *args),
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    return out


def database_files(path: Path) -> bytes:
    """The SQLite file and its companions (write-ahead log, shared memory), as on disk."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(f"{path.name}*")))


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver, Receiver]]:
    """A receiver that accepts, one that always fails, and the errors webhook's."""
    async for ok in running_receiver():
        async for failing in running_receiver():
            failing.script = lambda _r, _n: Answer(status=500, body=b"down for now")
            async for errors in running_receiver():
                yield ok, failing, errors


@pytest.fixture
async def pusher() -> AsyncIterator[PusherStandIn]:
    async with running_pusher() as standin:
        yield standin


async def test_no_secret_leaves_the_router(
    tmp_path: Path,
    amqp_url: str,
    exchange_name: str,
    cleanup: Cleanup,
    receivers: tuple[Receiver, Receiver, Receiver],
    pusher: PusherStandIn,
) -> None:
    ok, failing, errors = receivers
    s = Secrets()
    pusher.add_app(APP_ID, PUSHER_KEY, s.pusher_secret)
    pusher.fail_next(500, times=2)  # a Pusher request retried, then dead-lettered
    database = tmp_path / "config.sqlite3"

    # No call sets a webhook's own signing secret; one stored before the key was set, in
    # plain text, is sealed when the router opens the store.
    seeding = SqliteStore(database)
    await seeding.open()
    signed = WebhookConfig(
        label="signed", url=f"{ok.base}/signed", events=["messages.upsert"], secret=s.hook_signing
    )
    await seeding.put(InstanceConfig(instance=INSTANCE, webhooks=(signed,)))
    await seeding.close()
    assert s.hook_signing.encode() in database_files(database)

    env = clean_env(
        RABBITMQ_URI=amqp_url,
        RABBITMQ_EXCHANGE_NAME=exchange_name,
        AUTHENTICATION_API_KEY=s.api_key,
        ROUTER_SECRETS_KEY=s.store_key,
        ROUTER_STORE_PATH=str(database),
        ROUTER_MAX_WEBHOOKS_PER_INSTANCE="4",
        ROUTER_HISTORY_FLUSH_SECONDS="0.2",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        WEBHOOK_SECRET=s.global_signing,
        WEBHOOK_EVENTS_ERRORS="true",
        WEBHOOK_EVENTS_ERRORS_WEBHOOK=f"{errors.base}/errors",
        WEBHOOK_ENDPOINT_FAILURE_THRESHOLD="100",
        PUSHER_ENABLED="true",
        PUSHER_GLOBAL_HOST="127.0.0.1",
        PUSHER_GLOBAL_PORT=str(pusher.port),
        PUSHER_GLOBAL_USE_TLS="false",
        **{f"WEBHOOK_{name.upper()}": value for name, value in RETRIES.items()},
    )
    policy = RetryPolicy.from_settings(Settings.build(webhook=RETRIES).webhook)
    for role in ("webhook", "webhook-errors", "pusher"):
        for ms in delays_ms(policy):
            cleanup.queue(AdapterQueues.for_role(exchange_name, role).delay(ms))

    seen = Seen()
    router = RouterProcess(env, keep_stdout=True)
    async with aiohttp.ClientSession() as session:

        async def call(
            what: str, method: str, path: str, body: Any = None, *, key: str | None = s.api_key
        ) -> Any:
            headers = {} if key is None else {"apikey": key}
            url = f"{router.base}{path}"
            async with session.request(method, url, json=body, headers=headers) as response:
                data = await response.read()
            shown = path.replace(s.api_key, "<key>")
            seen.add(f"answer: {what}, {method} {shown} {response.status}", data)
            assert response.status < 500, data
            return orjson.loads(data) if data[:1] in (b"{", b"[") else data

        try:
            await router.start()
            # Configured as the platforms configure it, through three dialects.
            await call(
                "instance",
                "POST",
                "/instance/create",
                {"instanceName": INSTANCE, "token": s.token},
            )
            evolution_hook = {
                "enabled": True,
                "url": f"{failing.base}/fail",
                "headers": {"jwt_key": s.jwt_key, "X-Tenant": "t1"},
                "events": ["MESSAGES_UPSERT"],
            }
            await call(
                "webhook configuration",
                "POST",
                f"/webhook/set/{INSTANCE}",
                {"webhook": evolution_hook},
            )
            ryze_hook = {
                "label": "ryze",
                "url": f"{ok.base}/ryze",
                "format": "evolution",
                "events": ["MESSAGES_UPSERT"],
                "authorization": f"Bearer {s.authorization}",
            }
            await call(
                "webhook configuration", "POST", f"/api/events/webhook/{INSTANCE}", ryze_hook
            )
            # Credentials in the URL: aiohttp sends the password as Basic auth, which cannot be
            # combined with an Authorization header, hence a webhook of its own.
            creds_url = (
                f"http://bot:{s.url_password}@127.0.0.1:{failing.port}/creds"
                f"?token={s.query_token}&tenant=t1"
            )
            await call(
                "webhook configuration",
                "POST",
                f"/api/v2/instance/{INSTANCE}/webhook",
                {"name": "creds", "url": creds_url, "events": {"messagesUpsert": True}},
            )
            pusher_block = {
                "enabled": True,
                "appId": APP_ID,
                "key": PUSHER_KEY,
                "secret": s.pusher_secret,
                "useTLS": False,
                "events": ["MESSAGES_UPSERT"],
            }
            await call("pusher", "POST", f"/pusher/set/{INSTANCE}", {"pusher": pusher_block})
            # Refused: a wrong key; the instance's own token on another instance.
            await call("refused", "GET", f"/webhook/find/{INSTANCE}", key="wrong")
            await call("refused", "GET", "/pusher/find/other", key=s.token)

            # Events in through the API and through Evolution's webhook (the key in the path).
            for n in range(2):
                event = {"event": "messages.upsert", "data": {"key": {"id": f"m{n}"}}}
                await call("event", "POST", f"/events/{INSTANCE}", event)
            evolution_body = {"event": "messages.upsert", "instance": INSTANCE, "data": {}}
            await call("event", "POST", f"/ingest/evolution/{s.api_key}", evolution_body, key=None)

            async def delivered() -> bool:
                reports = [orjson.loads(r.body) for r in errors.requests]
                return (
                    len([r for r in reports if r.get("adapter") == "webhook"]) >= 6
                    and any(r.get("adapter") == "pusher" for r in reports)
                    and len([p for p in ok.paths() if p == "/signed"]) >= 3
                    and len([p for p in ok.paths() if p == "/ryze"]) >= 3
                )

            await until(delivered, "deliveries, retries and error reports")
            # Pusher took the first events in one batch, which failed; the next one goes.
            event = {"event": "messages.upsert", "data": {"key": {"id": "m-last"}}}
            await call("event", "POST", f"/events/{INSTANCE}", event)

            async def triggered() -> bool:
                return bool(pusher.triggered)

            await until(triggered, "an event at Pusher")

            async def recorded() -> bool:
                query = f"/attempts?instance={INSTANCE}&outcome=dead"
                found = await call("attempts", "GET", query)
                return len(found["attempts"]) >= 6

            await until(recorded, "the dead attempts in the history")

            # Every answer that could show a secret.
            await call("webhook configuration", "GET", f"/webhook/find/{INSTANCE}")
            for block in ("rabbitmq", "sqs", "websocket"):
                await call("channel", "GET", f"/{block}/find/{INSTANCE}")
            await call("pusher", "GET", f"/pusher/find/{INSTANCE}")
            await call("pusher", "GET", f"/pusher/find/{INSTANCE}", key=s.token)
            await call("webhook configuration", "GET", f"/api/events/getWebhook/{INSTANCE}")
            await call("webhook configuration", "GET", f"/api/v2/instance/{INSTANCE}/webhook")
            await call("instance", "PUT", "/instances/other", {"token": hexed("other")})
            await call("attempts", "GET", f"/attempts?instance={INSTANCE}&limit=500")
            since = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
            replay = {"since": since, "instance": INSTANCE, "to": "webhook:ryze"}
            started = await call("replay", "POST", "/replay", replay)

            async def replayed() -> bool:
                found = await call("replay", "GET", f"/replay/{started['replay']}")
                return bool(found["state"] != "running")

            await until(replayed, "the replay's end")
            await call("metrics", "GET", "/metrics", key=None)
            await call("health", "GET", "/readyz", key=None)
        finally:
            await session.close()  # the router's shutdown waits for open connections
            err = (await router.stop()).encode()
            out = router.stdout

    assert err.count(b"\n") > 10, "the run's log was not kept"
    seen.add("router run stdout", out)
    seen.add("router run stderr", err)
    for report in errors.requests:
        seen.add(f"errors webhook {report.path}", report.body)
    seen.add("router config", await cli(env, "config"))
    seen.add("router config --json", await cli(env, "config", "--json"))
    for role in ("webhook", "pusher"):
        listed = await cli(env, "dlq", "list", role)
        assert b'"reason"' in listed
        seen.add(f"router dlq list {role}", listed)
    seen.add("database files", database_files(database))

    # The run did what it is here to show: the plain secret was sealed as the store opened,
    # every secret was used, and deliveries failed, were retried and were reported.
    assert b"config.secrets_sealed" in err
    assert all(r.headers.get("webhook-signature") for r in ok.requests if r.path == "/signed")
    ryze = [r for r in ok.requests if r.path == "/ryze"]
    assert all(r.headers["Authorization"] == f"Bearer {s.authorization}" for r in ryze)
    evolution = [r for r in failing.requests if r.path == "/fail"]
    assert len(evolution) >= 6
    assert all(r.headers["Authorization"].startswith("Bearer ey") for r in evolution)
    creds = [r for r in failing.requests if r.path.startswith("/creds?token=")]
    assert len(creds) >= 6
    assert all(r.headers["Authorization"].startswith("Basic ") for r in creds)

    assert seen.leaks(s.kept()) == []
    assert seen.leaks(s.in_url()) == []
