"""The committed .env.example is the rendering of the settings models: every setting, once,
with its default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from router.config.envexample import HEADER, env_value, render
from router.config.settings import FAMILIES, Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"


def example_lines() -> list[tuple[str, str]]:
    """(name, value) for every NAME=value line, comments and blank lines skipped."""
    pairs = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"not a NAME=value line: {line!r}"
        pairs.append((name, value))
    return pairs


def defaults() -> dict[str, str]:
    out: dict[str, str] = {}
    for fam in FAMILIES.values():
        for env_name, _, info in fam.env_names():
            out[env_name] = env_value(info.get_default(call_default_factory=True))
    return out


def test_committed_file_is_the_rendering() -> None:
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == render(), (
        ".env.example is stale: regenerate it with `router config --example > .env.example`"
    )


def test_rendering_starts_with_the_header() -> None:
    assert render().startswith(HEADER)


def test_names_are_exactly_the_settings() -> None:
    names = [name for name, _ in example_lines()]
    expected = set(defaults())
    missing = sorted(expected - set(names))
    extra = sorted(set(names) - expected)
    assert not missing, f"settings missing from .env.example: {missing}"
    assert not extra, f"names in .env.example that are no setting: {extra}"
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"names listed twice in .env.example: {duplicates}"


def test_values_are_the_defaults() -> None:
    expected = defaults()
    wrong = {
        name: (value, expected[name])
        for name, value in example_lines()
        if name in expected and value != expected[name]
    }
    assert not wrong, f"(value in .env.example, default) differ: {wrong}"


def test_spot_check_of_evolution_defaults() -> None:
    values = dict(example_lines())
    assert values["WEBHOOK_REQUEST_TIMEOUT_MS"] == "30000"
    assert values["WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES"] == "400,401,403,404,422"
    assert values["WEBHOOK_RETRY_JITTER_FACTOR"] == "0.2"
    assert values["WEBHOOK_RETRY_USE_EXPONENTIAL_BACKOFF"] == "true"
    assert values["RABBITMQ_EXCHANGE_NAME"] == "evolution_exchange"
    assert values["SQS_GLOBAL_MESSAGES_UPSERT"] == "false"
    assert values["SERVER_PORT"] == "8080"


def test_env_value_formats_like_an_env_file() -> None:
    assert env_value(True) == "true"
    assert env_value(False) == "false"
    assert env_value(5.0) == "5"
    assert env_value(0.2) == "0.2"
    assert env_value(8080) == "8080"
    assert env_value("") == ""
    assert env_value(SecretStr("amqp://guest:guest@127.0.0.1:5672/")) == (
        "amqp://guest:guest@127.0.0.1:5672/"
    )


def test_the_example_loads_as_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    prefixes = tuple(fam.prefix for fam in FAMILIES.values())
    for name in list(os.environ):
        if name.upper().startswith(prefixes):
            monkeypatch.delenv(name)
    assert Settings.load(ENV_EXAMPLE) == Settings.build()
