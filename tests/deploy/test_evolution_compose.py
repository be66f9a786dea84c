"""deploy/evolution: Evolution API beside the router, one environment each. Evolution's file
hands every event to the router and delivers nothing itself; the router's file holds every
delivery setting, is accepted by the router as it is, and points nowhere back into a router."""

from __future__ import annotations

from pathlib import Path

import yaml
from dotenv import dotenv_values

from adapters.webhook import build
from router.config.settings import Settings
from tests.deploy.paths import DEPLOY
from tests.deploy.test_compose import yamllint

HERE = DEPLOY / "evolution"
COMPOSE = HERE / "docker-compose.yml"


def values(path: Path) -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(path).items()}


def test_yamllint_is_content() -> None:
    result = yamllint(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_evolution_hands_everything_to_the_router_and_delivers_nothing_itself() -> None:
    evolution = values(HERE / "evolution.env.example")
    router = values(HERE / "router.env.example")
    key = router["AUTHENTICATION_API_KEY"]
    assert evolution["WEBHOOK_GLOBAL_ENABLED"] == "true"
    assert evolution["WEBHOOK_GLOBAL_URL"] == f"http://router-ingest:8080/ingest/evolution/{key}"
    for channel in ("RABBITMQ", "SQS", "PUSHER", "WEBSOCKET"):
        assert evolution[f"{channel}_ENABLED"] == "false", channel
    switched = [name for name, value in evolution.items() if name.startswith("WEBHOOK_EVENTS_")]
    assert len(switched) >= 25
    assert all(evolution[name] == "true" for name in switched if name != "WEBHOOK_EVENTS_ERRORS")


def test_the_routers_file_is_accepted_and_does_not_loop() -> None:
    settings = Settings.load(HERE / "router.env.example")
    assert settings.webhook.global_enabled
    assert settings.webhook.enabled_events() >= {"messages.upsert", "connection.update"}
    build(settings)  # refuses a global webhook that points at an ingest


def test_every_service_is_there_and_the_router_roles_read_their_own_file() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert set(services) == {"postgres", "evolution", "rabbitmq", "router-ingest", "router-webhook"}
    assert services["evolution"]["env_file"] == "evolution.env"
    assert services["evolution"]["image"].startswith("evoapicloud/evolution-api:v2.3")
    for role in ("ingest", "webhook"):
        service = services[f"router-{role}"]
        assert service["env_file"] == "router.env"
        assert service["command"] == ["router", "run", "--only", role]
