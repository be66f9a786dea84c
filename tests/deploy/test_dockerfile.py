"""deploy/Dockerfile: hadolint finds nothing, the image is built the way the layout promises,
and its health probe tells a serving router from a missing one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

from tests.conftest import Cleanup
from tests.deploy.paths import DEPLOY, ROOT, tool
from tests.support.process import RouterProcess, clean_env, free_port

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for item in instructions():
        if item[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(item)
    return found


def hadolint(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing() -> None:
    result = hadolint(DOCKERFILE.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_report_a_poor_dockerfile() -> None:
    result = hadolint("FROM python:latest\nRUN pip install requests\n")
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the latest tag


def test_two_stages_on_a_slim_python_base() -> None:
    args = dict(rest.split("=", 1) for word, rest in instructions() if word == "ARG")
    assert args["PYTHON_VERSION"] in ("3.11", "3.12")
    bases = [stage[0][1] for stage in stages()]
    assert len(bases) == 2
    for base in bases:
        assert base.split()[0] == "python:${PYTHON_VERSION}-slim"


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    build = stages()[0]
    order = [f"{word} {rest}" for word, rest in build]
    pyproject = next(i for i, s in enumerate(order) if s.startswith("COPY pyproject.toml"))
    requirements = next(i for i, s in enumerate(order) if "-r requirements.txt" in s)
    first_code = next(i for i, s in enumerate(order) if re.match(r"COPY (router|adapters)", s))
    assert pyproject < requirements < first_code
    # Nothing but pyproject.toml is in the build context when the dependency layer is made.
    assert all(not s.startswith("COPY") for s in order[pyproject + 1 : requirements])


def test_the_requirements_line_lists_the_project_dependencies() -> None:
    run = next(rest for word, rest in stages()[0] if "requirements.txt" in rest and word == "RUN")
    script = re.search(r'python -c "(.*?)" > requirements.txt', run)
    assert script, run
    listed = subprocess.run(
        [sys.executable, "-c", script.group(1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert listed == project["dependencies"] + project["optional-dependencies"]["fast"]


def test_the_runtime_stage_runs_router_as_a_non_root_user() -> None:
    final = stages()[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0")
    cmd = [rest for word, rest in final if word == "CMD"]
    assert json.loads(cmd[-1]) == ["router", "run"]
    copied = [rest for word, rest in final if word == "COPY"]
    assert copied == ["--from=build /opt/router /opt/router"]


def test_every_copied_path_exists_and_passes_the_dockerignore() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    for word, rest in stages()[0]:
        if word == "COPY":
            source = rest.split()[0]
            assert (ROOT / source).exists(), source
            assert source in allowed, f"{source} is excluded by .dockerignore"
    assert ".venv" not in allowed


def healthcheck_command() -> list[str]:
    (check,) = [rest for word, rest in instructions() if word == "HEALTHCHECK"]
    command: list[str] = json.loads(check.split(" CMD ", 1)[1])
    return command


def probe(port: int) -> int:
    command = healthcheck_command()
    assert command[0] == "python"
    assert "curl" not in " ".join(command)
    return subprocess.run(
        [sys.executable, *command[1:]],
        env={"SERVER_PORT": str(port)},
        capture_output=True,
        timeout=15,
        check=False,
    ).returncode


async def test_the_healthcheck_passes_on_a_serving_router_and_fails_without_one(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    assert "/healthz" in " ".join(healthcheck_command())
    assert probe(free_port()) != 0
    router = RouterProcess(
        clean_env(RABBITMQ_URI=amqp_url, RABBITMQ_EXCHANGE_NAME=exchange_name), "--only", "ingest"
    )
    try:
        await router.start()
        assert probe(router.port) == 0
    finally:
        await router.stop()
