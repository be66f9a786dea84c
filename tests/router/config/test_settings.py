"""Settings: Evolution API's names and defaults, per-event switches from the catalog, refusal of
misspelt variables, Evolution .env files and clear errors for invalid values."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from router.config.envcheck import SettingsError
from router.config.settings import FAMILIES, Family, Settings, event_field
from schemas import CATALOG

PREFIXES = tuple(fam.prefix for fam in FAMILIES.values())
SWITCHED = {"rabbitmq": "EVENTS_", "webhook": "EVENTS_", "pusher": "EVENTS_", "sqs": "GLOBAL_"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No variable of a settings family leaks in from the environment running the tests, and
    structlog is left as it was found."""
    for name in list(os.environ):
        if name.upper().startswith(PREFIXES):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()


def family(settings: Settings, name: str) -> Family:
    value = getattr(settings, name)
    assert isinstance(value, Family)
    return value


# --- defaults -------------------------------------------------------------------------------


def test_defaults_are_evolutions() -> None:
    s = Settings.load()
    assert s.webhook.request_timeout_ms == 30000
    assert s.webhook.retry_max_attempts == 10
    assert s.webhook.retry_initial_delay_seconds == 5
    assert s.webhook.retry_use_exponential_backoff is True
    assert s.webhook.retry_max_delay_seconds == 300
    assert s.webhook.retry_jitter_factor == 0.2
    assert s.webhook.non_retryable_codes == frozenset({400, 401, 403, 404, 422})
    assert s.rabbitmq.exchange_name == "evolution_exchange"
    assert s.server.port == 8080
    assert s.sqs.max_payload_size == 1048576
    assert s.sqs.global_prefix_name == "global"
    assert s.router.strict_env is True


def test_no_event_is_switched_on_by_default() -> None:
    s = Settings.load()
    for name in SWITCHED:
        assert family(s, name).enabled_events() == frozenset()


# --- per-event switches ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "infix"), sorted(SWITCHED.items()))
def test_every_catalog_event_has_a_switch(
    monkeypatch: pytest.MonkeyPatch, name: str, infix: str
) -> None:
    fam = FAMILIES[name]
    primary = {env for env, _, _ in fam.env_names()}
    for event in CATALOG:
        assert f"{fam.prefix}{infix}{event.key}" in primary
        monkeypatch.setenv(f"{fam.prefix}{infix}{event.key}", "true")
    enabled = family(Settings.load(), name).enabled_events()
    assert enabled == frozenset(e.wire for e in CATALOG)
    # Wire names, not config keys.
    assert "messages.upsert" in enabled
    assert "group-participants.update" in enabled
    assert "MESSAGES_UPSERT" not in enabled


@pytest.mark.parametrize(("name", "infix"), sorted(SWITCHED.items()))
def test_one_switch_enables_one_event_of_one_family(
    monkeypatch: pytest.MonkeyPatch, name: str, infix: str
) -> None:
    monkeypatch.setenv(f"{FAMILIES[name].prefix}{infix}TYPEBOT_CHANGE_STATUS", "true")
    s = Settings.load()
    for other in SWITCHED:
        expected = {"typebot.change-status"} if other == name else set()
        assert family(s, other).enabled_events() == expected, other


def test_sqs_switches_are_spelled_sqs_global() -> None:
    names = {env for env, _, _ in FAMILIES["sqs"].env_names()}
    assert "SQS_GLOBAL_MESSAGES_UPSERT" in names
    assert "SQS_EVENTS_MESSAGES_UPSERT" not in names


@pytest.mark.parametrize(
    ("variable", "wire"),
    [
        ("WEBHOOK_EVENTS_GROUP_UPDATE", "groups.update"),
        ("RABBITMQ_EVENTS_GROUP_UPDATE", "groups.update"),
        ("SQS_GLOBAL_GROUP_UPDATE", "groups.update"),
        ("PUSHER_EVENTS_GROUP_UPDATE", "groups.update"),
        ("RABBITMQ_EVENTS_NEW_JWT_TOKEN", "new.jwt"),
        ("WEBHOOK_EVENTS_NEW_TOKEN", "new.jwt"),
        ("WEBHOOK_EVENTS_NEW_JWT", "new.jwt"),
    ],
)
def test_alias_keys_enable_their_event(
    monkeypatch: pytest.MonkeyPatch, variable: str, wire: str
) -> None:
    monkeypatch.setenv(variable, "true")
    s = Settings.load()
    name = variable.split("_", 1)[0].lower()
    assert family(s, name).enabled_events() == {wire}


def test_lower_case_variable_names_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("webhook_events_call", "true")
    assert Settings.load().webhook.enabled_events() == {"call"}


# --- misspelt and foreign variables ----------------------------------------------------------


def test_typo_is_refused_with_the_nearest_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_EVENTS_MESAGES_UPSERT", "true")
    with pytest.raises(SettingsError) as caught:
        Settings.load()
    message = str(caught.value)
    assert "WEBHOOK_EVENTS_MESAGES_UPSERT" in message
    assert "did you mean WEBHOOK_EVENTS_MESSAGES_UPSERT?" in message


def test_every_typo_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_GLOBAL_URLL", "http://example.test/")
    monkeypatch.setenv("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    with pytest.raises(SettingsError) as caught:
        Settings.load()
    message = str(caught.value)
    assert "WEBHOOK_GLOBAL_URLL: not a setting; did you mean WEBHOOK_GLOBAL_URL?" in message
    assert "RABBITMQ_URL: not a setting; did you mean RABBITMQ_URI?" in message


def test_typo_in_env_file_is_refused(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SERVER_PORT=8080\nSQS_GLOBAL_MESAGES_UPSERT=true\n")
    with pytest.raises(SettingsError) as caught:
        Settings.load(env_file)
    assert "SQS_GLOBAL_MESAGES_UPSERT" in str(caught.value)
    assert "SQS_GLOBAL_MESSAGES_UPSERT" in str(caught.value)


def test_non_strict_turns_a_typo_into_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_EVENTS_MESAGES_UPSERT", "true")
    monkeypatch.setenv("WEBHOOK_EVENTS_CALL", "true")
    monkeypatch.setenv("ROUTER_STRICT_ENV", "false")
    with capture_logs() as logs:
        s = Settings.load()
    assert s.router.strict_env is False
    # The misspelt switch does nothing; the others still apply.
    assert s.webhook.enabled_events() == {"call"}
    warnings = [e for e in logs if e["event"] == "settings.unknown_variable"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert "WEBHOOK_EVENTS_MESAGES_UPSERT" in warnings[0]["detail"]


def test_non_strict_in_env_file_applies(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ROUTER_STRICT_ENV=false\nPUSHER_GLOBAL_APPID=123\n")
    with capture_logs() as logs:
        Settings.load(env_file)
    assert any("PUSHER_GLOBAL_APPID" in str(e.get("detail")) for e in logs)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RABBITMQ_PORT", "tcp://10.0.0.1:5672"),
        ("RABBITMQ_SERVICE_HOST", "10.0.0.1"),
        ("RABBITMQ_SERVICE_PORT", "5672"),
        ("RABBITMQ_SERVICE_PORT_AMQP", "5672"),
        ("RABBITMQ_PORT_5672_TCP", "tcp://10.0.0.1:5672"),
        ("RABBITMQ_PORT_5672_TCP_ADDR", "10.0.0.1"),
        ("RABBITMQ_PORT_5672_TCP_PORT", "5672"),
        ("RABBITMQ_PORT_5672_TCP_PROTO", "tcp"),
        ("WEBHOOK_PORT", "tcp://10.0.0.2:80"),
        ("ROUTER_SERVICE_HOST", "10.0.0.3"),
    ],
)
def test_kubernetes_service_links_are_not_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    s = Settings.load()
    assert s.rabbitmq.uri.get_secret_value() == "amqp://guest:guest@127.0.0.1:5672/"


def test_a_port_setting_that_is_not_a_service_link_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQ_PORT", "5672")
    with pytest.raises(SettingsError, match="RABBITMQ_PORT"):
        Settings.load()


def test_variables_of_other_prefixes_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/evolution")
    monkeypatch.setenv("CACHE_REDIS_URI", "redis://localhost:6379/6")
    monkeypatch.setenv("WEBHOOKS_TYPO_IN_ANOTHER_FAMILY", "1")
    s = Settings.load()
    assert s.server.port == 8080


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_BAILEYS", "error"),
        ("LOG_COLOR", "true"),
        ("AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES", "true"),
        ("SERVER_TYPE", "http"),
        ("SERVER_DISABLE_DOCS", "false"),
        ("RABBITMQ_DEFAULT_USER", "guest"),
    ],
)
def test_evolution_names_accepted_but_unused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    s = Settings.load()
    assert s == Settings.build()


# --- an Evolution .env -----------------------------------------------------------------------

EVOLUTION_ENV = """\
SERVER_NAME=evolution
SERVER_TYPE=http
SERVER_PORT=8080
SERVER_URL=http://localhost:8080

SENTRY_DSN=

CORS_ORIGIN=*
CORS_METHODS=GET,POST,PUT,DELETE
CORS_CREDENTIALS=true

LOG_LEVEL=ERROR,WARN,DEBUG,INFO,LOG,VERBOSE,DARK,WEBHOOKS,WEBSOCKET
LOG_COLOR=true
LOG_BAILEYS=error

EVENT_EMITTER_MAX_LISTENERS=50
DEL_INSTANCE=false

DATABASE_PROVIDER=postgresql
DATABASE_CONNECTION_URI='postgresql://user:pass@postgres:5432/evolution_db?schema=evolution_api'
DATABASE_CONNECTION_CLIENT_NAME=evolution_exchange
DATABASE_SAVE_DATA_INSTANCE=true

RABBITMQ_ENABLED=true
RABBITMQ_URI=amqp://evo:evopass@rabbitmq:5672/default
RABBITMQ_EXCHANGE_NAME=evolution
RABBITMQ_FRAME_MAX=8192
RABBITMQ_GLOBAL_ENABLED=false
RABBITMQ_PREFIX_KEY=
RABBITMQ_EVENTS_APPLICATION_STARTUP=false
RABBITMQ_EVENTS_INSTANCE_CREATE=false
RABBITMQ_EVENTS_QRCODE_UPDATED=false
RABBITMQ_EVENTS_MESSAGES_SET=false
RABBITMQ_EVENTS_MESSAGES_UPSERT=true
RABBITMQ_EVENTS_MESSAGES_EDITED=false
RABBITMQ_EVENTS_MESSAGES_UPDATE=true
RABBITMQ_EVENTS_SEND_MESSAGE=false
RABBITMQ_EVENTS_GROUPS_UPSERT=false
RABBITMQ_EVENTS_GROUP_UPDATE=true
RABBITMQ_EVENTS_GROUP_PARTICIPANTS_UPDATE=false
RABBITMQ_EVENTS_CONNECTION_UPDATE=true
RABBITMQ_EVENTS_CALL=false
RABBITMQ_EVENTS_TYPEBOT_START=false
RABBITMQ_EVENTS_TYPEBOT_CHANGE_STATUS=false

SQS_ENABLED=false
SQS_ACCESS_KEY_ID=
SQS_SECRET_ACCESS_KEY=
SQS_ACCOUNT_ID=
SQS_REGION=
SQS_GLOBAL_ENABLED=false
SQS_GLOBAL_FORCE_SINGLE_QUEUE=false
SQS_GLOBAL_APPLICATION_STARTUP=false
SQS_GLOBAL_CALL=false
SQS_GLOBAL_MESSAGES_UPSERT=true
SQS_GLOBAL_GROUP_UPDATE=false
SQS_GLOBAL_QRCODE_UPDATED=false

WEBSOCKET_ENABLED=false
WEBSOCKET_GLOBAL_EVENTS=false
WEBSOCKET_ALLOWED_HOSTS=127.0.0.1,::1,::ffff:127.0.0.1

PUSHER_ENABLED=false
PUSHER_GLOBAL_ENABLED=false
PUSHER_GLOBAL_APP_ID=
PUSHER_GLOBAL_KEY=
PUSHER_GLOBAL_SECRET=
PUSHER_GLOBAL_CLUSTER=
PUSHER_GLOBAL_USE_TLS=true
PUSHER_EVENTS_APPLICATION_STARTUP=true
PUSHER_EVENTS_QRCODE_UPDATED=true
PUSHER_EVENTS_MESSAGES_UPSERT=true
PUSHER_EVENTS_GROUPS_UPDATE=false

WEBHOOK_GLOBAL_ENABLED=false
WEBHOOK_GLOBAL_URL=
WEBHOOK_GLOBAL_WEBHOOK_BY_EVENTS=false
WEBHOOK_EVENTS_APPLICATION_STARTUP=false
WEBHOOK_EVENTS_QRCODE_UPDATED=true
WEBHOOK_EVENTS_MESSAGES_SET=true
WEBHOOK_EVENTS_MESSAGES_UPSERT=true
WEBHOOK_EVENTS_MESSAGES_EDITED=true
WEBHOOK_EVENTS_MESSAGES_UPDATE=true
WEBHOOK_EVENTS_MESSAGES_DELETE=true
WEBHOOK_EVENTS_SEND_MESSAGE=true
WEBHOOK_EVENTS_CONTACTS_SET=true
WEBHOOK_EVENTS_CONTACTS_UPSERT=true
WEBHOOK_EVENTS_CONTACTS_UPDATE=true
WEBHOOK_EVENTS_PRESENCE_UPDATE=true
WEBHOOK_EVENTS_CHATS_SET=true
WEBHOOK_EVENTS_CHATS_UPSERT=true
WEBHOOK_EVENTS_CHATS_UPDATE=true
WEBHOOK_EVENTS_CHATS_DELETE=true
WEBHOOK_EVENTS_GROUPS_UPSERT=true
WEBHOOK_EVENTS_GROUPS_UPDATE=true
WEBHOOK_EVENTS_GROUP_PARTICIPANTS_UPDATE=true
WEBHOOK_EVENTS_CONNECTION_UPDATE=true
WEBHOOK_EVENTS_REMOVE_INSTANCE=false
WEBHOOK_EVENTS_LOGOUT_INSTANCE=false
WEBHOOK_EVENTS_LABELS_EDIT=true
WEBHOOK_EVENTS_LABELS_ASSOCIATION=true
WEBHOOK_EVENTS_CALL=true
WEBHOOK_EVENTS_TYPEBOT_START=false
WEBHOOK_EVENTS_TYPEBOT_CHANGE_STATUS=false
WEBHOOK_EVENTS_ERRORS=false
WEBHOOK_EVENTS_ERRORS_WEBHOOK=
WEBHOOK_REQUEST_TIMEOUT_MS=60000
WEBHOOK_RETRY_MAX_ATTEMPTS=10
WEBHOOK_RETRY_INITIAL_DELAY_SECONDS=5
WEBHOOK_RETRY_USE_EXPONENTIAL_BACKOFF=true
WEBHOOK_RETRY_MAX_DELAY_SECONDS=300
WEBHOOK_RETRY_JITTER_FACTOR=0.2
WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES=400,401,403,404,422

CONFIG_SESSION_PHONE_CLIENT=Evolution API
CONFIG_SESSION_PHONE_NAME=Chrome
QRCODE_LIMIT=30
QRCODE_COLOR='#175197'

AUTHENTICATION_API_KEY=429683C4C977415CAAFCCE10F7D57E11
AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES=true
LANGUAGE=en
"""


def test_evolution_env_file_loads_unchanged(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(EVOLUTION_ENV)
    s = Settings.load(env_file)

    assert s.server.name == "evolution"
    assert s.server.url == "http://localhost:8080"
    assert s.server.port == 8080
    assert s.log.level == "ERROR,WARN,DEBUG,INFO,LOG,VERBOSE,DARK,WEBHOOKS,WEBSOCKET"

    assert s.rabbitmq.enabled is True
    assert s.rabbitmq.uri.get_secret_value() == "amqp://evo:evopass@rabbitmq:5672/default"
    assert s.rabbitmq.exchange_name == "evolution"
    assert s.rabbitmq.prefix_key == ""
    assert s.rabbitmq.enabled_events() == {
        "messages.upsert",
        "messages.update",
        "groups.update",
        "connection.update",
    }

    assert s.sqs.enabled is False
    assert s.sqs.access_key_id == ""
    assert s.sqs.secret_access_key.get_secret_value() == ""
    assert s.sqs.region == ""
    assert s.sqs.enabled_events() == {"messages.upsert"}

    assert s.pusher.global_app_id == ""
    assert s.pusher.global_secret.get_secret_value() == ""
    assert s.pusher.global_use_tls is True
    assert s.pusher.enabled_events() == {
        "application.startup",
        "qrcode.updated",
        "messages.upsert",
    }

    assert s.websocket.allowed_hosts == "127.0.0.1,::1,::ffff:127.0.0.1"

    assert s.webhook.global_enabled is False
    assert s.webhook.global_url == ""
    assert s.webhook.events_errors_webhook == ""
    assert s.webhook.request_timeout_ms == 60000
    assert s.webhook.non_retryable_codes == {400, 401, 403, 404, 422}
    webhook_on = {
        line.split("=")[0].removeprefix("WEBHOOK_EVENTS_")
        for line in EVOLUTION_ENV.splitlines()
        if line.startswith("WEBHOOK_EVENTS_") and line.endswith("=true")
    }
    assert s.webhook.enabled_events() == {e.wire for e in CATALOG if e.key in webhook_on}
    assert len(webhook_on) == 22

    assert s.authentication.api_key.get_secret_value() == "429683C4C977415CAAFCCE10F7D57E11"


def test_empty_values_mean_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "RABBITMQ_EXCHANGE_NAME=\n"
        "WEBHOOK_RETRY_MAX_ATTEMPTS=\n"
        "WEBHOOK_RETRY_JITTER_FACTOR=''\n"
        "SQS_MAX_PAYLOAD_SIZE=\n"
        "WEBHOOK_EVENTS_CALL=\n"
    )
    monkeypatch.setenv("SERVER_PORT", "")
    monkeypatch.setenv("WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES", "")
    s = Settings.load(env_file)
    assert s.rabbitmq.exchange_name == "evolution_exchange"
    assert s.webhook.retry_max_attempts == 10
    assert s.webhook.retry_jitter_factor == 0.2
    assert s.sqs.max_payload_size == 1048576
    assert s.server.port == 8080
    assert s.webhook.non_retryable_codes == {400, 401, 403, 404, 422}
    assert s.webhook.enabled_events() == frozenset()


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SERVER_PORT=9000\n"
        "RABBITMQ_EXCHANGE_NAME=from_file\n"
        "WEBHOOK_EVENTS_GROUPS_UPDATE=true\n"
        "WEBHOOK_EVENTS_CALL=true\n"
    )
    monkeypatch.setenv("SERVER_PORT", "9100")
    monkeypatch.setenv("WEBHOOK_EVENTS_GROUP_UPDATE", "false")
    s = Settings.load(env_file)
    assert s.server.port == 9100
    assert s.rabbitmq.exchange_name == "from_file"
    assert s.webhook.enabled_events() == {"call"}


def test_a_missing_env_file_is_no_error(tmp_path: Path) -> None:
    assert Settings.load(tmp_path / "absent.env") == Settings.build()


# --- invalid values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES", "400,abc", "'abc' is not an HTTP status code"),
        ("WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES", "400,999", "'999' is not an HTTP status code"),
        ("SERVER_PORT", "http", "valid integer"),
        ("SERVER_PORT", "70000", "less than or equal to 65535"),
        ("WEBHOOK_RETRY_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
        ("WEBHOOK_RETRY_JITTER_FACTOR", "1.5", "less than or equal to 1"),
        ("WEBHOOK_EVENTS_CALL", "maybe", "valid boolean"),
        ("LOG_FORMAT", "xml", "auto|json|console"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable) as caught:
        Settings.load()
    assert says in str(caught.value)
    assert value in str(caught.value)


def test_invalid_alias_value_names_the_alias_that_was_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_EVENTS_GROUP_UPDATE", "yes please")
    with pytest.raises(ValueError, match="WEBHOOK_EVENTS_GROUP_UPDATE") as caught:
        Settings.load()
    assert "valid boolean" in str(caught.value)


def test_invalid_value_in_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SQS_MAX_PAYLOAD_SIZE=1MB\n")
    with pytest.raises(ValueError, match="SQS_MAX_PAYLOAD_SIZE"):
        Settings.load(env_file)


def test_every_invalid_value_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_PORT", "http")
    monkeypatch.setenv("WEBHOOK_RETRY_MAX_ATTEMPTS", "0")
    with pytest.raises(ValueError, match="SERVER_PORT") as caught:
        Settings.load()
    assert "WEBHOOK_RETRY_MAX_ATTEMPTS" in str(caught.value)


# --- build -----------------------------------------------------------------------------------


def test_build_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_GLOBAL_URL", "http://from-env.test/")
    monkeypatch.setenv("SERVER_PORT", "9999")
    monkeypatch.setenv("WEBHOOK_EVENTS_MESAGES_UPSERT", "true")  # would be refused by load
    s = Settings.build(webhook={"global_enabled": True, event_field("CALL"): True})
    assert s.webhook.global_enabled is True
    assert s.webhook.global_url == ""
    assert s.webhook.enabled_events() == {"call"}
    assert s.server.port == 8080


def test_build_validates_overrides() -> None:
    with pytest.raises(ValueError, match="retry_max_attempts"):
        Settings.build(webhook={"retry_max_attempts": 0})


def test_build_refuses_unknown_families() -> None:
    with pytest.raises(TypeError, match="webhooks"):
        Settings.build(webhooks={"global_enabled": True})


def test_items_yields_every_family_in_order() -> None:
    s = Settings.build()
    assert [name for name, _ in s.items()] == list(FAMILIES)
    for name, fam in s.items():
        assert isinstance(fam, FAMILIES[name])
