"""Processes of a test's own, in process groups that are always gone afterwards: a broker is
stopped, killed or reaped here, never left running."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import time
from pathlib import Path

# Process groups of every node started here; killed at interpreter exit if still alive, so an
# aborted run leaves no broker behind.
STARTED_GROUPS: set[int] = set()


def kill_started_groups() -> None:
    for group in list(STARTED_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    STARTED_GROUPS.clear()


atexit.register(kill_started_groups)


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def port_accepts(port: int, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection on loopback ``port``."""
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def clean_environ() -> dict[str, str]:
    skip = ("RABBITMQ_", "ERL_", "NOTIFY_SOCKET")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env["LC_ALL"] = "C.UTF-8"
    env["LANG"] = "C.UTF-8"
    return env


async def reap(proc: asyncio.subprocess.Process, timeout: float) -> bool:
    """Wait for ``proc`` to exit; False when it is still running after ``timeout``."""
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        return False
    return True


def kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def group_members(group: int) -> list[int]:
    """Processes of process group ``group`` that still run, from /proc. A zombie counts while
    any of its threads has yet to exit: the process's sockets close only with the last one."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) < 3 or int(fields[2]) != group:
                continue
            if fields[0] == "Z" and len(list((entry / "task").iterdir())) <= 1:
                continue
        except OSError:
            continue
        members.append(int(entry.name))
    return members


async def await_group_gone(group: int, timeout: float) -> bool:
    """Wait until no process of ``group`` is alive: the shell dies at once on SIGKILL, the
    Erlang VM (and its sockets) a moment later."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        if not group_members(group):
            return True
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    return not group_members(group)
