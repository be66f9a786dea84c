"""deploy/systemd/router@.service: systemd itself accepts the unit, and it runs one role per
instance as an unprivileged, sandboxed service that restarts on failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.deploy.paths import DEPLOY, tool

UNIT = DEPLOY / "systemd" / "router@.service"
EXECUTABLE = "/opt/evrouter/bin/router"


def entries() -> list[tuple[str, str, str]]:
    """(section, key, value) in order; keys may repeat, as systemd allows."""
    section = ""
    found: list[tuple[str, str, str]] = []
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {raw!r}"
        found.append((section, key.strip(), value.strip()))
    return found


def values(section: str, key: str) -> list[str]:
    return [v for s, k, v in entries() if s == section and k == key]


def instance(tmp_path: Path, role: str, text: str | None = None) -> Path:
    """The unit as an instance, its ExecStart pointing at an executable that exists here
    (systemd-analyze checks that it does)."""
    stand_in = tmp_path / "router"
    stand_in.write_text("#!/bin/sh\n", encoding="utf-8")
    stand_in.chmod(0o755)
    unit = tmp_path / f"router@{role}.service"
    body = UNIT.read_text(encoding="utf-8") if text is None else text
    unit.write_text(body.replace(EXECUTABLE, str(stand_in)), encoding="utf-8")
    return unit


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("systemd-analyze"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_systemd_analyze_verify_reports_nothing(tmp_path: Path) -> None:
    result = analyze("verify", str(instance(tmp_path, "webhook")))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_verify_does_report_a_misspelt_key(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8").replace("ProtectHome=", "ProtectHom=")
    result = analyze("verify", str(instance(tmp_path, "webhook", text)))
    assert "ProtectHom" in result.stderr


def test_the_sandbox_scores_as_well_exposed_at_most_2(tmp_path: Path) -> None:
    # systemd's own exposure score, 0 (locked down) to 10 (unprotected); threshold in tenths.
    result = analyze("security", "--offline=yes", "--threshold=20", str(instance(tmp_path, "sqs")))
    assert result.returncode == 0, result.stdout[-3000:]


def test_each_instance_runs_its_role_with_the_shared_environment() -> None:
    (command,) = values("Service", "ExecStart")
    assert command.startswith(EXECUTABLE + " ")
    assert command.endswith("run --only %i")
    files = values("Service", "EnvironmentFile")
    assert files[0] == "/etc/evrouter/router.env"
    assert "-/etc/evrouter/%i.env" in files  # optional, per role: SERVER_PORT at least


def test_it_runs_unprivileged_and_restarts_on_failure() -> None:
    assert values("Service", "User") == ["evrouter"]
    assert values("Service", "Restart") == ["on-failure"]
    assert values("Service", "NoNewPrivileges") == ["yes"]
    assert values("Service", "ProtectSystem") == ["strict"]
    assert values("Service", "CapabilityBoundingSet") == [""]
    assert values("Service", "StateDirectory") == ["evrouter"]
    assert values("Install", "WantedBy") == ["multi-user.target"]
