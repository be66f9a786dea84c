"""deploy/docker-compose.yml: yamllint is content, and every service is what operators rely on:
one container per role, each with the image, its command, the .env file and a healthcheck."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from router.config.settings import FAMILIES
from router.roles import NAMES as ROLES
from tests.deploy.paths import DEPLOY, YAMLLINT_CONFIG, tool

COMPOSE = DEPLOY / "docker-compose.yml"
OPTIONAL_ROLES = {"sqs", "pusher", "websocket", "bridge"}


def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    found: dict[str, dict[str, Any]] = document["services"]
    return found


def yamllint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("yamllint"), "--strict", "-f", "parsable", "-c", str(YAMLLINT_CONFIG), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_yamllint_is_content() -> None:
    result = yamllint(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_does_report_a_poor_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  a:   {image: x}\n  a: {image: y}\n", encoding="utf-8")
    result = yamllint(bad)
    assert result.returncode != 0
    assert "key-duplicates" in result.stdout


def test_one_service_per_role_plus_the_broker_and_the_local_sqs() -> None:
    assert set(services()) == {*ROLES, "rabbitmq", "sqs-local"}


def test_every_role_runs_the_image_with_its_role_only() -> None:
    for role in ROLES:
        service = services()[role]
        assert service["command"] == ["router", "run", "--only", role], role
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
            DEPLOY / "Dockerfile"
        )
        assert service["image"].startswith("evrouter:")


def test_every_role_reads_the_env_file_and_waits_for_a_healthy_broker() -> None:
    for role in ROLES:
        service = services()[role]
        assert service["env_file"] == ".env", role
        assert service["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}, role
        assert service["restart"] == "unless-stopped", role
        uri = service["environment"]["RABBITMQ_URI"]
        assert uri.startswith("amqp://"), uri
        assert uri.endswith("@rabbitmq:5672/"), uri


def test_every_variable_the_file_sets_is_a_router_setting() -> None:
    known = set().union(*(fam.known_names() for fam in FAMILIES.values()))
    for role in ROLES:
        unknown = set(services()[role]["environment"]) - known
        assert not unknown, f"{role}: not settings: {sorted(unknown)}"


def probe_source(check: dict[str, Any]) -> str:
    test = check["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    source: str = test[3]
    compile(source, "healthcheck", "exec")
    return source


def test_every_role_has_a_readiness_healthcheck_in_python() -> None:
    for role in ROLES:
        check = services()[role]["healthcheck"]
        assert "http://127.0.0.1:8080/readyz" in probe_source(check), role
        assert check["retries"] >= 1


def test_the_http_roles_publish_their_port_and_the_optional_ones_have_a_profile() -> None:
    all_services = services()
    assert all_services["ingest"]["ports"] == ["8080:8080"]
    assert all_services["websocket"]["ports"] == ["8081:8080"]
    for role in ROLES:
        profiles = all_services[role].get("profiles")
        assert profiles == ([role] if role in OPTIONAL_ROLES else None), role


def test_rabbitmq_is_the_management_image_with_its_own_healthcheck() -> None:
    rabbit = services()["rabbitmq"]
    assert rabbit["image"].startswith("rabbitmq:")
    assert rabbit["image"].endswith("-management")
    assert rabbit["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    user = rabbit["environment"]["RABBITMQ_DEFAULT_USER"]
    assert user in services()["ingest"]["environment"]["RABBITMQ_URI"]


def test_a_local_sqs_server_is_an_optional_profile() -> None:
    sqs = services()["sqs-local"]
    assert sqs["profiles"] == ["sqs-local"]
    assert sqs["image"].startswith("motoserver/moto:")
    assert "5000" in probe_source(sqs["healthcheck"])


def test_the_broker_credentials_in_env_do_not_stop_the_router() -> None:
    # The compose file reads RABBITMQ_DEFAULT_USER/PASS from the .env every role reads too.
    known = FAMILIES["rabbitmq"].known_names()
    assert {"RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"} <= known
