"""RabbitMQ nodes of a test's own: started from a temporary directory on loopback ports, faulted
at will (stopped, killed, restarted, put under a memory alarm) and always gone afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from tests.reliability.processes import (
    STARTED_GROUPS,
    await_group_gone,
    clean_environ,
    free_ports,
    group_members,
    kill_group,
    port_accepts,
    reap,
)

RABBIT_BIN: Final = Path(os.environ.get("TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
NAME_PREFIX: Final = "rtest"
LOOPBACK_ERL_ARGS: Final = "-kernel inet_dist_use_interface {127,0,0,1}"
ALARM_WATERMARK: Final = "0.000001"
NORMAL_WATERMARK: Final = "0.4"


class NodeError(RuntimeError):
    """A node did not do what it was asked within its time."""


class CtlError(NodeError):
    """``rabbitmqctl`` answered with a non-zero exit status or did not finish in time."""

    def __init__(self, args: tuple[str, ...], status: int | None, output: str) -> None:
        what = "timed out" if status is None else f"exited {status}"
        super().__init__(f"rabbitmqctl {' '.join(args)} {what}: {output.strip()[-2000:]}")
        self.status = status
        self.output = output


class RabbitNode:
    """One RabbitMQ node in a directory of its own, listening on 127.0.0.1 only.

    Ports and directory stay the same for the node's whole life, so ``restart`` and
    ``start_app`` bring it back where clients left it. Every wait is bounded: ``boot_timeout``
    for a start, ``ctl_timeout`` for each ``rabbitmqctl`` call. As an async context manager it
    starts on entry and is stopped (killed if it does not stop) on exit; a directory it made
    itself is removed then.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        directory: Path | None = None,
        cookie: str | None = None,
        amqp_port: int | None = None,
        dist_port: int | None = None,
        boot_timeout: float = 60.0,
        ctl_timeout: float = 30.0,
        stop_timeout: float = 20.0,
        config: str = "",
    ) -> None:
        self.name = name or f"{NAME_PREFIX}-{secrets.token_hex(3)}-1@localhost"
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix=f"{NAME_PREFIX}-"))
        self.cookie = cookie or secrets.token_hex(16).upper()
        ports = free_ports(3)
        self.amqp_port = amqp_port or ports[0]
        self.dist_port = dist_port or ports[1]
        self.ctl_port = ports[2]
        self.boot_timeout = boot_timeout
        self.ctl_timeout = ctl_timeout
        self.stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None
        # The command line tools of one node share one distribution port: one call at a time.
        self._ctl_lock = asyncio.Lock()
        self.boot_seconds: float | None = None
        self.config = config  # more rabbitmq.conf lines, e.g. "max_message_size = 16777216"

    def __repr__(self) -> str:
        return f"RabbitNode({self.name!r}, amqp={self.amqp_port}, dir={str(self.directory)!r})"

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def running(self) -> bool:
        """The node's OS process is alive (its broker application may still be stopped)."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_dir(self) -> Path:
        return self.directory / "log"

    @property
    def console_log(self) -> Path:
        return self.directory / "console.log"

    def env(self) -> dict[str, str]:
        """The environment both the server and ``rabbitmqctl`` run with."""
        d = self.directory
        env = clean_environ()
        env.update(
            HOME=str(d),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONF_ENV_FILE=str(d / "env.conf"),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
            RABBITMQ_CONFIG_FILES=str(d / "conf.d"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=LOOPBACK_ERL_ARGS,
            RABBITMQ_CTL_ERL_ARGS=LOOPBACK_ERL_ARGS,
            RABBITMQ_CTL_DIST_PORT_MIN=str(self.ctl_port),
            RABBITMQ_CTL_DIST_PORT_MAX=str(self.ctl_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
        )
        return env

    def _prepare(self) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        (d / "conf.d").mkdir(exist_ok=True)
        (d / "enabled_plugins").write_text("")
        (d / "env.conf").write_text("")
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\nloopback_users = none\n{self.config}\n"
        )
        cookie = d / ".erlang.cookie"
        if cookie.exists():
            cookie.chmod(0o600)
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)

    async def start(self, timeout: float | None = None) -> None:
        """Boot the node and wait until its broker application runs."""
        if self.running:
            raise NodeError(f"{self.name} is already running")
        self._prepare()
        started = time.monotonic()
        with self.console_log.open("ab") as console:
            self._proc = await asyncio.create_subprocess_exec(
                str(RABBIT_BIN / "rabbitmq-server"),
                env=self.env(),
                cwd=self.directory,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        STARTED_GROUPS.add(self._proc.pid)
        try:
            await self.await_startup(timeout)
        except BaseException:
            await self.kill()
            raise
        self.boot_seconds = time.monotonic() - started

    async def await_startup(self, timeout: float | None = None) -> None:
        """Wait until the AMQP port answers and ``rabbitmqctl await_startup`` agrees."""
        limit = timeout or self.boot_timeout
        deadline = time.monotonic() + limit
        try:
            async with asyncio.timeout(limit):
                while not await port_accepts(self.amqp_port, 0.5):
                    if not self.running:
                        raise NodeError(f"{self.name} exited while booting:\n{self.log_tail()}")
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise NodeError(
                f"{self.name} did not open port {self.amqp_port} within {limit} s:\n"
                f"{self.log_tail()}"
            ) from None
        left = max(1, int(deadline - time.monotonic()))
        await self.ctl("await_startup", "--timeout", str(left), timeout=left + 10)

    async def ctl(self, *args: str, timeout: float | None = None, tool: str = "rabbitmqctl") -> str:
        """Run ``TOOL -n NODE ARGS`` (``rabbitmqctl``, or another of RabbitMQ's command line
        tools) and return what it printed on stdout."""
        limit = timeout or self.ctl_timeout
        async with self._ctl_lock:
            proc = await asyncio.create_subprocess_exec(
                str(RABBIT_BIN / tool),
                "-n",
                self.name,
                *args,
                env=self.env(),
                cwd=self.directory,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            try:
                out, err = await asyncio.wait_for(proc.communicate(), limit)
            except TimeoutError:
                kill_group(proc)
                await reap(proc, 5)
                raise CtlError(args, None, f"no answer within {limit} s") from None
            except BaseException:
                kill_group(proc)
                await reap(proc, 5)
                raise
        if proc.returncode != 0:
            raise CtlError(args, proc.returncode, (out + err).decode("utf-8", "replace"))
        return out.decode("utf-8", "replace")

    async def quorum_critical(self) -> bool:
        """Whether stopping this node now would leave a quorum queue without a majority (a
        member elsewhere is still catching up): an operator waits before stopping it."""
        try:
            await self.ctl("check_if_node_is_quorum_critical", tool="rabbitmq-queues")
        except CtlError as exc:
            if exc.status is None:
                raise
            return True
        return False

    async def ctl_json(self, *args: str, timeout: float | None = None) -> object:
        return json.loads(await self.ctl(*args, "--formatter", "json", timeout=timeout))

    async def stop(self, timeout: float | None = None) -> None:
        """``rabbitmqctl stop`` and wait for the OS process to end; killed if it does not."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        limit = timeout or self.stop_timeout
        # A node that does not answer is killed below.
        with contextlib.suppress(CtlError):
            await self.ctl("stop", timeout=limit)
        if not await reap(proc, limit):
            await self.kill()
            return
        # The group may still hold helpers (erl_child_setup) for a moment.
        kill_group(proc)
        if not await await_group_gone(proc.pid, 10):
            raise NodeError(f"{self.name}: processes {group_members(proc.pid)} outlived stop")
        STARTED_GROUPS.discard(proc.pid)

    async def kill(self) -> None:
        """SIGKILL to the node's whole process group: no shutdown, nothing flushed."""
        proc = self._proc
        if proc is None:
            return
        kill_group(proc)
        if not await reap(proc, 10) or not await await_group_gone(proc.pid, 10):
            raise NodeError(f"{self.name}: processes {group_members(proc.pid)} survived SIGKILL")
        STARTED_GROUPS.discard(proc.pid)

    async def restart(self, timeout: float | None = None) -> None:
        """Stop the node and boot it again on the same directory and ports."""
        await self.stop()
        await self.start(timeout)

    async def stop_app(self) -> None:
        """Stop the broker application; the OS process (and Erlang distribution) stay up."""
        await self.ctl("stop_app")

    async def start_app(self) -> None:
        await self.ctl("start_app", timeout=max(self.ctl_timeout, self.boot_timeout))

    async def memory_alarm(self, on: bool) -> None:
        """Raise (or clear) the memory alarm by moving the high watermark: publishers get
        blocked while it is on."""
        watermark = ALARM_WATERMARK if on else NORMAL_WATERMARK
        await self.ctl("set_vm_memory_high_watermark", watermark)

    async def alarms(self) -> list[str]:
        """The resource alarms the node reports right now (empty when none)."""
        query = "[R || {{resource_limit, R, _}, _} <- rabbit_alarm:get_alarms()]."
        out = await self.ctl("eval", query)
        text = out.strip().strip("[]").strip()
        return [part.strip() for part in text.split(",") if part.strip()] if text else []

    async def running_nodes(self) -> list[str]:
        status = await self.ctl_json("cluster_status")
        if not isinstance(status, dict):
            raise NodeError(f"unexpected cluster_status: {status!r}")
        nodes = status.get("running_nodes", [])
        return sorted(str(n) for n in nodes)

    def log_paths(self) -> list[Path]:
        paths = [self.console_log] if self.console_log.exists() else []
        if self.log_dir.is_dir():
            paths += sorted(p for p in self.log_dir.iterdir() if p.is_file())
        return paths

    def log_text(self) -> str:
        """Every log file of the node, each under its name."""
        parts = []
        for path in self.log_paths():
            text = path.read_text("utf-8", "replace")
            parts.append(f"==> {path.name} <==\n{text}")
        return "\n".join(parts)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    async def close(self, graceful: bool = True) -> None:
        """Stop (or kill) the node and remove a directory it made itself."""
        try:
            if graceful:
                await self.stop()
            else:
                await self.kill()
        finally:
            if self._proc is not None:
                kill_group(self._proc)
            if self._own_directory:
                shutil.rmtree(self.directory, ignore_errors=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            print(f"--- logs of {self.name} ---\n{self.log_tail(8000)}", file=sys.stderr)
        await self.close(graceful=exc is None)
