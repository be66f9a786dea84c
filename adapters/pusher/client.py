"""Pusher apps: the ``pusher`` library signs the requests; they go out on one aiohttp session
shared by every app (the library's own asyncio backend opens a session per request).

An app id is an opaque string, as the Pusher protocol has it (Soketi's default is ``app-id``);
the library's own check that it be numeric is the only one passed over.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pusher

from router.config.settings import PusherSettings
from schemas.instance_config import PusherConfig

# An app id goes into the request path (/apps/<id>/batch_events) as it is.
_APP_ID = re.compile(r"[A-Za-z0-9._~-]{1,100}")
# What the library accepts as an app id; any other is set after it is built.
_LIBRARY_APP_ID = re.compile(r"[0-9]+")


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

    def problem(self) -> str | None:
        """Why no request of this app can ever succeed, or None."""
        if not _APP_ID.fullmatch(self.app_id):
            return (
                f"app id {self.app_id!r} cannot be used: 1 to 100 letters, digits, '.', '_', "
                "'~' or '-'"
            )
        if not self.key:
            return f"app {self.app_id!r} has no key"
        if not self.secret:
            return f"app {self.app_id!r} has no secret"
        return None

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
            numeric = _LIBRARY_APP_ID.fullmatch(app.app_id) is not None
            found = pusher.Pusher(
                app_id=app.app_id if numeric else "0",
                key=app.key,
                secret=app.secret,
                backend=SessionBackend,
                session=self._session,
                **options,
            )
            if not numeric:
                found._pusher_client._app_id = app.app_id
            self._clients[app] = found
        return found

    async def trigger_batch(self, app: App, events: list[dict[str, str]]) -> None:
        status, body = await self.client(app).trigger_batch(events, already_encoded=True)
        if status not in (200, 202):
            raise PusherHttpError(status, body)
