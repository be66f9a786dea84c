"""``router config``: the effective settings with secrets masked, as text, JSON or .env.example."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from router.cli import main
from router.config.envexample import render
from router.config.settings import FAMILIES
from router.dlqcmd import listing_summary

SECRETS = ("hunter2", "topsecret", "whsec_abc")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only this test's variables; structlog unconfigured, as in a fresh process, before and
    after."""
    structlog.reset_defaults()
    prefixes = tuple(fam.prefix for fam in FAMILIES.values())
    for name in list(os.environ):
        if name.upper().startswith(prefixes):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RABBITMQ_URI", "amqp://user:hunter2@127.0.0.1:5672/")
    monkeypatch.setenv("AUTHENTICATION_API_KEY", "topsecret")
    monkeypatch.setenv("WEBHOOK_SECRET", "whsec_abc")
    yield
    structlog.reset_defaults()


@pytest.fixture
def no_env_file(tmp_path: Path) -> str:
    """An env file with nothing in it: only the environment counts."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return str(empty)


def run(argv: list[str]) -> int | str | None:
    """The exit status ``main`` ends with (0 when it simply returns)."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code
    return 0


def test_config_masks_secrets(no_env_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--env-file", no_env_file, "config"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "RABBITMQ_URI=amqp://user:***@127.0.0.1:5672/" in lines
    assert "AUTHENTICATION_API_KEY=***" in lines
    assert "WEBHOOK_SECRET=***" in lines
    for secret in SECRETS:
        assert secret not in out
        assert secret not in err


def test_config_shows_every_setting_once(
    no_env_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--env-file", no_env_file, "config"]) == 0
    out = capsys.readouterr().out
    names = [line.split("=", 1)[0] for line in out.splitlines() if not line.startswith("#")]
    expected = [env for fam in FAMILIES.values() for env, _, _ in fam.env_names()]
    assert names == expected
    assert [line for line in out.splitlines() if line.startswith("#")] == [
        f"# {family}" for family in FAMILIES
    ]


def test_config_shows_values_from_env_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "WEBHOOK_GLOBAL_URL=https://hooks:pa55@example.test/in\n"
        "WEBHOOK_EVENTS_GROUP_UPDATE=true\n"
        "SERVER_PORT=9000\n"
    )
    monkeypatch.setenv("SERVER_PORT", "9100")
    assert run(["--env-file", str(env_file), "config"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "SERVER_PORT=9100" in out
    assert "WEBHOOK_EVENTS_GROUPS_UPDATE=true" in out
    assert "WEBHOOK_EVENTS_CALL=false" in out
    # A password in a URL that is not a secret field is masked as well.
    assert "WEBHOOK_GLOBAL_URL=https://hooks:***@example.test/in" in out


def test_empty_secret_is_shown_empty(
    no_env_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUTHENTICATION_API_KEY")
    assert run(["--env-file", no_env_file, "config"]) == 0
    assert "AUTHENTICATION_API_KEY=" in capsys.readouterr().out.splitlines()


def test_config_json(no_env_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--env-file", no_env_file, "config", "--json"]) == 0
    out = capsys.readouterr().out
    shown = orjson.loads(out)
    assert list(shown) == list(FAMILIES)
    assert shown["rabbitmq"]["RABBITMQ_URI"] == "amqp://user:***@127.0.0.1:5672/"
    assert shown["rabbitmq"]["RABBITMQ_EXCHANGE_NAME"] == "evolution_exchange"
    assert shown["authentication"]["AUTHENTICATION_API_KEY"] == "***"
    assert shown["webhook"]["WEBHOOK_SECRET"] == "***"
    assert shown["webhook"]["WEBHOOK_RETRY_MAX_ATTEMPTS"] == "10"
    assert shown["server"]["SERVER_PORT"] == "8080"
    assert shown["sqs"]["SQS_GLOBAL_MESSAGES_UPSERT"] == "false"
    for secret in SECRETS:
        assert secret not in out


def test_config_example_prints_the_rendering(
    no_env_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--env-file", no_env_file, "config", "--example"]) == 0
    out = capsys.readouterr().out
    assert out == render()
    for secret in SECRETS:
        assert secret not in out


def test_typo_stops_config_and_names_the_variable(
    no_env_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_EVENTS_MESAGES_UPSERT", "true")
    code = run(["--env-file", no_env_file, "config"])
    assert code not in (0, None)
    assert isinstance(code, str)
    assert "WEBHOOK_EVENTS_MESAGES_UPSERT" in code
    assert "WEBHOOK_EVENTS_MESSAGES_UPSERT" in code
    assert capsys.readouterr().out == ""


def test_typo_in_env_file_stops_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("RABBITMQ_EXCHANGE=evolution\n")
    code = run(["--env-file", str(env_file), "config"])
    assert isinstance(code, str)
    assert "RABBITMQ_EXCHANGE" in code
    assert "RABBITMQ_EXCHANGE_NAME" in code
    assert capsys.readouterr().out == ""


def test_invalid_value_stops_config_and_names_the_variable(
    no_env_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVER_PORT", "http")
    code = run(["--env-file", no_env_file, "config"])
    assert isinstance(code, str)
    assert "SERVER_PORT" in code
    assert "valid integer" in code
    assert capsys.readouterr().out == ""


def test_non_strict_config_runs_despite_a_typo(
    no_env_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_EVENTS_MESAGES_UPSERT", "true")
    monkeypatch.setenv("ROUTER_STRICT_ENV", "false")
    assert run(["--env-file", no_env_file, "config"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "ROUTER_STRICT_ENV=false" in out
    assert "WEBHOOK_EVENTS_MESSAGES_UPSERT=false" in out


def test_non_strict_warning_goes_to_stderr_not_into_json(
    no_env_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_EVENTS_MESAGES_UPSERT", "true")
    monkeypatch.setenv("ROUTER_STRICT_ENV", "false")
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert run(["--env-file", no_env_file, "config", "--json"]) == 0
    out, err = capsys.readouterr()
    assert orjson.loads(out)["router"]["ROUTER_STRICT_ENV"] == "false"
    warning = orjson.loads(err.splitlines()[0])
    assert warning["message"] == "settings.unknown_variable"
    assert warning["level"] == "warning"
    assert "WEBHOOK_EVENTS_MESAGES_UPSERT" in warning["detail"]


@pytest.mark.parametrize(
    ("shown", "total", "said"),
    [
        (0, 0, "q.dlq is empty"),
        (1, 1, "1 dead letter in q.dlq, all shown"),
        (3, 3, "3 dead letters in q.dlq, all shown"),
        (100, 2345, "100 shown, 2245 more in q.dlq (--limit 2345 shows them all)"),
    ],
)
def test_a_dead_letter_listing_says_what_it_left_out(shown: int, total: int, said: str) -> None:
    assert listing_summary("q.dlq", shown, total) == said


def test_an_env_file_that_is_not_there_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.env"
    assert (
        run(["--env-file", str(missing), "config"]) == f"router: --env-file {missing}: no such file"
    )
    assert capsys.readouterr().out == ""
