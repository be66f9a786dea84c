"""Pusher apps: the ``pusher`` library signs the requests; they go out on one aiohttp session
shared by every app (the library's own asyncio backend opens a session per request)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pusher

from router.settings import PusherSettings
from schemas.instance_config import PusherConfig


class PusherHttpError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body.strip()[:300]}")
        self.status = status


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    key: str
    secret: str = field(repr=False)
    cluster: str = ""
    use_tls: bool = True
    host: str = ""
    port: int = 0

    @property
    def name(self) -> str:
        """A stable key for batching and caching that never shows the secret."""
        identity = f"{self.key}|{self.secret}|{self.cluster}|{self.use_tls}|{self.host}|{self.port}"
        digest = hashlib.sha256(identity.encode())
        return f"{self.app_id}-{digest.hexdigest()[:8]}"

    @classmethod
    def from_settings(cls, s: PusherSettings) -> App:
        return cls(
            s.global_app_id,
            s.global_key,
            s.global_secret.get_secret_value(),
            s.global_cluster,
            s.global_use_tls,
            s.global_host,
            s.global_port,
        )

    @classmethod
    def from_block(cls, block: PusherConfig, s: PusherSettings) -> App:
        # An instance's own app; a self-hosted server set globally serves it too.
        return cls(
            block.app_id,
            block.key,
            block.secret,
            block.cluster,
            block.use_tls,
            s.global_host,
            s.global_port,
        )


class SessionBackend:
    """The library's backend interface, on a shared session; answers (status, body) and leaves
    judging them to the adapter."""

    def __init__(self, client: Any, session: aiohttp.ClientSession) -> None:
        self.client = client
        self.session = session

    async def send_request(self, request: Any) -> tuple[int, str]:
        async with self.session.request(
            request.method,
            f"{request.base_url}{request.path}",
            params=request.query_params,
            data=request.body,
            headers=request.headers,
        ) as response:
            return response.status, await response.text("utf-8")


class Clients:
    """One library client per app, built on first use; a changed secret is another app."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[App, Any] = {}

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        session, self._session = self._session, None
        self._clients.clear()
        if session is not None:
            await session.close()

    def client(self, app: App) -> Any:
        if self._session is None:
            raise RuntimeError("the Pusher adapter is not started")
        found = self._clients.get(app)
        if found is None:
            options: dict[str, Any] = {"ssl": app.use_tls}
            if app.host:
                options["host"] = app.host
                if app.port:
                    options["port"] = app.port
            elif app.cluster:
                options["cluster"] = app.cluster
            found = pusher.Pusher(
                app_id=app.app_id,
                key=app.key,
                secret=app.secret,
                backend=SessionBackend,
                session=self._session,
                **options,
            )
            self._clients[app] = found
        return found

    async def trigger_batch(self, app: App, events: list[dict[str, str]]) -> None:
        status, body = await self.client(app).trigger_batch(events, already_encoded=True)
        if status not in (200, 202):
            raise PusherHttpError(status, body)
