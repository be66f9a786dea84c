"""Logging: secrets are masked in every line, Evolution's LOG_LEVEL lists work, JSON lines reach
stderr."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog

from router.logging import MASK, configure, get_logger, level_from, mask_secrets, mask_url


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def masked(**fields: Any) -> dict[str, Any]:
    return dict(mask_secrets(None, "info", {"event": "test", **fields}))


@pytest.mark.parametrize(
    "key",
    [
        "apikey",
        "apiKey",
        "api_key",
        "API_KEY",
        "x-api-key",
        "secret",
        "webhook_secret",
        "password",
        "Password",
        "token",
        "access_token",
        "Authorization",
        "authorization",
        "jwt_key",
        "aws_secret_access_key",
    ],
)
def test_values_under_secret_keys_are_masked(key: str) -> None:
    out = masked(**{key: "s3cret-value"})
    assert out[key] == MASK
    assert "s3cret" not in repr(out)


def test_ordinary_keys_are_left_alone() -> None:
    out = masked(instance="my-instance", attempt=3, url="https://example.test/hook")
    assert out == {
        "event": "test",
        "instance": "my-instance",
        "attempt": 3,
        "url": "https://example.test/hook",
    }


def test_empty_secret_stays_empty() -> None:
    # An empty value is shown as empty, so "no key configured" stays visible.
    assert masked(apikey="")["apikey"] == ""
    assert masked(token=None)["token"] is None


@pytest.mark.parametrize(
    "key", ["url", "uri", "broker", "detail", "error", "RABBITMQ_URI", "message"]
)
def test_url_passwords_are_masked_in_any_field(key: str) -> None:
    out = masked(**{key: "cannot reach amqp://user:pw@host:5672/vhost, retrying"})
    assert out[key] == "cannot reach amqp://user:***@host:5672/vhost, retrying"


def test_url_passwords_are_masked_in_the_message_itself() -> None:
    out = dict(mask_secrets(None, "info", {"event": "connecting to amqp://user:pw@host/"}))
    assert out["event"] == "connecting to amqp://user:***@host/"


def test_nested_dicts_are_masked() -> None:
    out = masked(
        config={
            "apikey": "s3cret",
            "webhook": {"url": "https://u:hidden@example.test/", "headers": {"Authorization": "x"}},
            "enabled": True,
        }
    )
    assert out["config"] == {
        "apikey": MASK,
        "webhook": {"url": "https://u:***@example.test/", "headers": {"Authorization": MASK}},
        "enabled": True,
    }


def test_mask_url_keeps_urls_without_password() -> None:
    assert mask_url("amqp://guest@host/") == "amqp://guest@host/"
    assert mask_url("https://example.test/a:b@c") == "https://example.test/a:b@c"
    assert mask_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert (
        mask_url("amqp://a:one@h1/ and amqps://b:two@h2/")
        == "amqp://a:***@h1/ and amqps://b:***@h2/"
    )


@pytest.mark.parametrize(
    ("spec", "level"),
    [
        ("ERROR,WARN,DEBUG", logging.DEBUG),
        ("ERROR,WARN", logging.WARNING),
        ("ERROR", logging.ERROR),
        ("info", logging.INFO),
        ("INFO", logging.INFO),
        ("warning", logging.WARNING),
        ("ERROR,WARN,DEBUG,INFO,LOG,VERBOSE,DARK,WEBHOOKS,WEBSOCKET", logging.DEBUG),
        ("ERROR, WARN, INFO", logging.INFO),
        ("ERROR,LOG", logging.INFO),
        ("DARK,WEBHOOKS", logging.INFO),
        ("", logging.INFO),
    ],
)
def test_level_from(spec: str, level: int) -> None:
    assert level_from(spec) == level


def test_json_line_on_stderr_without_secrets(capfd: pytest.CaptureFixture[str]) -> None:
    configure(level="INFO", fmt="json")
    log = get_logger("router.test")
    log.info("delivery.failed", apikey="s3cret", url="amqp://u:pw@h/", attempt=2)
    log.debug("below.the.level", detail="not written")
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert "s3cret" not in err
    assert "pw@" not in err
    line = orjson.loads(lines[0])
    assert line["message"] == "delivery.failed"
    assert line["level"] == "info"
    assert line["apikey"] == MASK
    assert line["url"] == "amqp://u:***@h/"
    assert line["attempt"] == 2
    assert line["timestamp"].endswith("Z")


def test_exception_text_is_masked(capfd: pytest.CaptureFixture[str]) -> None:
    configure(level="INFO", fmt="json")
    log = get_logger("router.test")
    try:
        raise ConnectionError("cannot connect to amqp://u:pw@h:5672/")
    except ConnectionError:
        log.exception("broker.down")
    _, err = capfd.readouterr()
    line = orjson.loads(err.splitlines()[0])
    assert "ConnectionError" in line["exception"]
    assert "amqp://u:***@h:5672/" in line["exception"]
    assert "pw@" not in err


def test_level_list_from_evolution_lets_debug_through(capfd: pytest.CaptureFixture[str]) -> None:
    configure(level="ERROR,WARN,DEBUG", fmt="json")
    get_logger("router.test").debug("verbose.detail")
    _, err = capfd.readouterr()
    assert [orjson.loads(x)["message"] for x in err.splitlines()] == ["verbose.detail"]


def test_the_key_in_evolutions_webhook_path_is_masked() -> None:
    url = "http://router:8080/ingest/evolution/s3cret-key/messages-upsert"
    assert mask_url(url) == "http://router:8080/ingest/evolution/***/messages-upsert"
    assert "s3cret" not in mask_url(f"error posting to {url}?x=1")
    assert mask_url("/ingest/evolution") == "/ingest/evolution"
