"""The router as a real process, started and stopped (or killed) by a test."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping

import aiohttp

# The interpreter that runs the router under test: another one (an installed release) runs the
# same tests against that release.
ROUTER_PYTHON = os.environ.get("TEST_ROUTER_PYTHON") or sys.executable

FAMILY_PREFIXES = (
    "RABBITMQ_",
    "WEBHOOK_",
    "SQS_",
    "PUSHER_",
    "WEBSOCKET_",
    "AUTHENTICATION_",
    "SERVER_",
    "LOG_",
    "ROUTER_",
    "BRIDGE_",
)


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any router setting, plus ``values``; the
    configuration store goes to a fresh temporary file unless ``values`` say otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(FAMILY_PREFIXES)}
    env.pop("DATABASE_URL", None)
    env["ROUTER_STORE_PATH"] = os.path.join(
        tempfile.mkdtemp(prefix="router-test-"), "config.sqlite3"
    )
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RouterProcess:
    def __init__(
        self,
        env: Mapping[str, str],
        *args: str,
        port: int | None = None,
        keep_stdout: bool = False,
    ) -> None:
        """``keep_stdout``: what the router prints is kept, in ``stdout`` once stopped."""
        self.port = port or free_port()
        self.env = {**env, "SERVER_PORT": str(self.port), "SERVER_HOST": "127.0.0.1"}
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._out = tempfile.TemporaryFile() if keep_stdout else None  # noqa: SIM115
        self.stdout = b""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, ready_within: float = 20) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            ROUTER_PYTHON,
            "-m",
            "router",
            "--env-file",
            "/dev/null",
            "run",
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL if self._out is None else self._out,
            # A file, not a pipe: a pipe nobody reads fills up and stops the router mid-test.
            stderr=self._log,
            # Elsewhere than this checkout, so that another interpreter imports its own router.
            cwd=None if sys.executable == ROUTER_PYTHON else tempfile.gettempdir(),
        )
        try:
            await self._wait_ready(ready_within)
        except BaseException:
            await self.kill()  # never leave a process behind a failed start
            raise

    async def _wait_ready(self, ready_within: float) -> None:
        assert self.proc is not None
        async with aiohttp.ClientSession() as session, asyncio.timeout(ready_within):
            while True:
                try:
                    async with session.get(f"{self.base}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                if self.proc.returncode is not None:
                    raise AssertionError(f"router exited: {self.log()[-2000:]}")
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no acks, nothing flushed."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
        self._log.close()
        if self._out is not None:
            self._out.close()

    async def stop(self) -> str:
        """SIGTERM and wait; returns what it wrote to stderr."""
        if self.proc is None:
            return ""
        if self.proc.returncode is None:
            self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), 30)
        text = self.log()
        self._log.close()
        if self._out is not None:
            self._out.seek(0)
            self.stdout = self._out.read()
            self._out.close()
        return text

    def log(self) -> str:
        if self._log.closed:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")
