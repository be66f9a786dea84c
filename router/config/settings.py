"""Settings, one family per prefix, spelled and defaulted as Evolution API spells them.

Per-event switches (``WEBHOOK_EVENTS_MESSAGES_UPSERT``, ``SQS_GLOBAL_CALL`` ...) are generated
from the event catalog, alias keys included, so the list of events is never typed twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, ValidationError, create_model, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from router.config.envcheck import (
    Environment,
    SettingsError,
    check_environment,
    read_environment,
)
from router.config.secrets import parse_keys
from router.netguard import Guard, networks
from schemas import CATALOG
from schemas.shapes import PayloadFormat

DURATION_UNITS = {"D": 86_400, "h": 3_600, "m": 60, "s": 1}
EVOLUTION_LOG_LEVEL = "ERROR,WARN,DEBUG,INFO,LOG,VERBOSE,DARK,WEBHOOKS,WEBSOCKET"


class Family(BaseSettings):
    """A group of variables sharing one prefix."""

    model_config = SettingsConfigDict(
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
        env_ignore_empty=True,  # Evolution's .env leaves many values empty: empty = default
    )
    prefix: ClassVar[str] = ""
    # The switch family that names per-event variables, e.g. "EVENTS_" or "GLOBAL_".
    event_infix: ClassVar[str | None] = None
    extra_event_infixes: ClassVar[tuple[str, ...]] = ()
    # Evolution variables accepted so an Evolution .env works unchanged, but not used here.
    accepted_unused: ClassVar[tuple[str, ...]] = ()
    # False for a prefix shared with Evolution's own settings, which the router cannot list.
    checked: ClassVar[bool] = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values come from ``from_environment`` (the environment read once, for every family)
        # or from the caller; a family never reads the environment by itself.
        return (init_settings,)

    @classmethod
    def from_environment(cls, environment: Environment) -> Self:
        """The family from the variables, names in any case (see ``Environment.first``)."""
        values = {}
        for name, info in cls.model_fields.items():
            found = environment.first(env_names_of(cls, name, info))
            if found is not None:
                values[name] = found
        return cls.model_validate(values)

    @classmethod
    def env_names(cls) -> Iterator[tuple[str, str, FieldInfo]]:
        """(primary env name, field name, field) for every field, aliases not included."""
        for name, info in cls.model_fields.items():
            yield env_name_of(cls, name, info), name, info

    @classmethod
    def known_names(cls) -> set[str]:
        names = {f"{cls.prefix}{n}" for n in cls.accepted_unused}
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                names.update(str(c).upper() for c in alias.choices)
            else:
                names.add(f"{cls.prefix}{name.upper()}")
        return names

    def enabled_events(self) -> frozenset[str]:
        """Wire names whose per-event switch is on."""
        return frozenset(e.wire for e in CATALOG if getattr(self, event_field(e.key), False))


def env_name_of(cls: type[Family], name: str, info: FieldInfo) -> str:
    return env_names_of(cls, name, info)[0]


def env_names_of(cls: type[Family], name: str, info: FieldInfo) -> list[str]:
    """Every variable that sets a field, the primary name first."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c).upper() for c in alias.choices]
    return [f"{cls.prefix}{name.upper()}"]


def invalid_values(
    fam: type[Family], exc: ValidationError, environ: Mapping[str, str]
) -> list[str]:
    """One line per error, naming the variable that was set (an alias, if that was used)
    rather than the field; secret values are not repeated."""
    present = {k.upper() for k, v in environ.items() if v != ""}
    by_spelling: dict[str, tuple[str, FieldInfo]] = {}
    for name, info in fam.model_fields.items():
        by_spelling[name] = (name, info)
        for env in env_names_of(fam, name, info):
            by_spelling[env] = (name, info)
    lines = []
    for error in exc.errors():
        loc = str(error["loc"][0]) if error["loc"] else ""
        if loc not in by_spelling:
            lines.append(f"{fam.prefix}*: {error['msg']}")
            continue
        name, info = by_spelling[loc]
        names = env_names_of(fam, name, info)
        variable = next((n for n in names if n in present), names[0])
        shown = "" if info.annotation is SecretStr else f"={error.get('input')!r}"
        lines.append(f"{variable}{shown}: {error['msg']}")
    return lines


def event_field(key: str) -> str:
    return f"event_{key.lower()}"


def with_event_switches(base: type[Family], doc: str) -> type[Family]:
    """Add one boolean per catalog event, accepting each alias key as well."""
    infixes = (base.event_infix or "EVENTS_", *base.extra_event_infixes)
    fields: dict[str, Any] = {}
    for event in CATALOG:
        names = [
            f"{base.prefix}{infix}{k}" for infix in infixes for k in (event.key, *event.alias_keys)
        ]
        fields[event_field(event.key)] = (
            bool,
            Field(
                False,
                validation_alias=AliasChoices(*names),
                description=f"send {event.wire}",
            ),
        )
    model: type[Family] = create_model(
        base.__name__, __base__=base, __doc__=doc, __module__=base.__module__, **fields
    )
    return model


class RabbitmqSettings(Family):
    model_config = SettingsConfigDict(env_prefix="RABBITMQ_")
    prefix: ClassVar[str] = "RABBITMQ_"
    # Variables of RabbitMQ's own server image, often in the same env file under compose.
    accepted_unused: ClassVar[tuple[str, ...]] = (
        "DEFAULT_USER",
        "DEFAULT_PASS",
        "DEFAULT_VHOST",
        "ERLANG_COOKIE",
        "NODENAME",
        "USE_LONGNAME",
    )
    enabled: bool = Field(
        False, description="publish per-event queues for downstream consumers (with GLOBAL_ENABLED)"
    )
    uri: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
        description="AMQP URI of the broker; several, comma-separated, for the nodes of a cluster (the next is tried at once when one fails)",
    )
    exchange_name: str = Field(
        "evolution_exchange", description="topic exchange every event is published to"
    )
    global_enabled: bool = Field(
        False, description="declare a quorum queue per enabled event, bound *.<event>"
    )
    prefix_key: str = Field(
        "", description="downstream queue names are <prefix>.<event>; empty: <event>"
    )
    frame_max: int = Field(
        8192, description="AMQP frame size (Evolution's setting; accepted, RabbitMQ negotiates)"
    )
    provisioned: bool = Field(
        False,
        description="the broker objects exist already (router topology --definitions): only check them, so the user needs no configure permission",
    )


class WebhookSettings(Family):
    model_config = SettingsConfigDict(env_prefix="WEBHOOK_")
    prefix: ClassVar[str] = "WEBHOOK_"
    global_enabled: bool = Field(False, description="deliver to WEBHOOK_GLOBAL_URL")
    global_url: str = Field(
        "", description="URL every enabled event of every instance is POSTed to"
    )
    global_webhook_by_events: bool = Field(
        False, description="append /<event-suffix> to the URL, e.g. /messages-upsert"
    )
    global_format: PayloadFormat = Field(
        "evolution",
        description="payload shape: evolution (the envelope), ryze (RyzeAPI's Events) or "
        "vzaps (VZaps' realtime events)",
    )
    events_errors: bool = Field(
        False, description="report every dead-lettered event to EVENTS_ERRORS_WEBHOOK"
    )
    events_errors_webhook: str = Field("", description="URL that receives error reports")
    request_timeout_ms: int = Field(30000, description="timeout of one webhook request")
    retry_max_attempts: int = Field(
        10, ge=1, description="attempts before an event goes to the DLQ"
    )
    retry_initial_delay_seconds: float = Field(5, ge=0, description="delay after the first failure")
    retry_use_exponential_backoff: bool = Field(
        True, description="double the delay after each failure"
    )
    retry_max_delay_seconds: float = Field(300, ge=0, description="upper bound of one delay")
    retry_jitter_factor: float = Field(
        0.2, ge=0, le=1, description="random spread of each delay, as a fraction"
    )
    retry_non_retryable_status_codes: str = Field(
        "400,401,403,404,422", description="statuses that send an event to the DLQ at once"
    )
    endpoint_max_in_flight: int = Field(
        16,
        ge=1,
        description="requests in flight per receiver (origin); eight times as many events wait in memory for a slot, the rest are deferred to their turn",
    )
    endpoint_failure_threshold: int = Field(
        5, ge=1, description="failures in a row that pause a receiver for one retry delay"
    )
    endpoint_disable_after: str = Field(
        "5D",
        pattern=r"^(0|[1-9][0-9]*[Dhms])$",
        description="a per-instance webhook failing this long without a success is disabled, with an operator event (5D, 12h, 30m, 90s; 0: never); one answering 410 Gone at once",
    )
    secret: SecretStr = Field(
        SecretStr(""),
        description="whsec_ secret(s), space separated, signing requests per Standard Webhooks",
    )
    deny_private_networks: bool = Field(
        False,
        description="refuse per-instance webhooks to private, loopback, shared, multicast and reserved addresses (multi-tenant platforms); link-local and cloud metadata addresses are refused always",
    )
    allowed_networks: str = Field(
        "",
        description="networks webhooks may reach whatever the SSRF rules say: CIDRs, comma-separated (e.g. 10.0.5.0/24)",
    )

    def guard(self) -> Guard:
        """The SSRF rules for webhooks set through the API (``router.netguard``)."""
        return Guard(self.deny_private_networks, networks(self.allowed_networks))

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        networks(value)
        return value

    @property
    def disable_after_seconds(self) -> float | None:
        """``endpoint_disable_after`` in seconds; None: never."""
        value = self.endpoint_disable_after
        if value == "0":
            return None
        return int(value[:-1]) * DURATION_UNITS[value[-1]]

    @property
    def non_retryable_codes(self) -> frozenset[int]:
        return frozenset(
            int(c) for c in self.retry_non_retryable_status_codes.split(",") if c.strip()
        )

    @field_validator("retry_non_retryable_status_codes")
    @classmethod
    def _codes(cls, value: str) -> str:
        for code in (c.strip() for c in value.split(",")):
            if code and not (code.isdigit() and 100 <= int(code) <= 599):
                raise ValueError(f"{code!r} is not an HTTP status code")
        return value


class SqsSettings(Family):
    model_config = SettingsConfigDict(env_prefix="SQS_")
    prefix: ClassVar[str] = "SQS_"
    event_infix: ClassVar[str | None] = "GLOBAL_"
    # Evolution spells SQS's switches SQS_GLOBAL_<KEY>; SQS_EVENTS_<KEY> is accepted as well.
    extra_event_infixes: ClassVar[tuple[str, ...]] = ("EVENTS_",)
    enabled: bool = Field(False, description="run the SQS adapter")
    access_key_id: str = Field("", description="AWS access key id")
    secret_access_key: SecretStr = Field(SecretStr(""), description="AWS secret access key")
    account_id: str = Field("", description="AWS account id")
    region: str = Field("", description="AWS region, e.g. us-east-1")
    global_enabled: bool = Field(
        False, description="send the events switched on below for every instance"
    )
    global_force_single_queue: bool = Field(False, description="one queue for all events")
    global_prefix_name: str = Field(
        "global",
        description="queue name prefix in single-queue mode, and of the global queues with "
        "QUEUE_NAMING=evolution",
    )
    max_payload_size: int = Field(
        1048576, ge=1024, le=1048576, description="larger events go to the DLQ with the reason"
    )
    endpoint_url: str = Field(
        "", description="SQS-compatible endpoint (ElasticMQ, LocalStack, moto)"
    )
    fifo: bool = Field(
        False, description="FIFO queues (.fifo): group = instance, dedup id = event id"
    )
    queue_naming: Literal["router", "evolution"] = Field(
        "router",
        description="router: <instance>-<event>; evolution: Evolution 2.3's FIFO queues, "
        "<instance>_<event>.fifo, and with GLOBAL_ENABLED <GLOBAL_PREFIX_NAME>_<event>.fifo "
        "shared by every instance",
    )
    batch_window_ms: int = Field(
        100,
        ge=0,
        le=1000,
        description="events for one queue within this window share one SendMessageBatch",
    )
    request_timeout_seconds: float = Field(10, gt=0, description="timeout of one SQS call")

    @property
    def fifo_queues(self) -> bool:
        """Evolution's queues are all FIFO."""
        return self.fifo or self.queue_naming == "evolution"


class PusherSettings(Family):
    model_config = SettingsConfigDict(env_prefix="PUSHER_")
    prefix: ClassVar[str] = "PUSHER_"
    enabled: bool = Field(False, description="run the Pusher adapter")
    global_enabled: bool = Field(
        False, description="send the events switched on below for every instance"
    )
    global_app_id: str = Field("", description="Pusher app id")
    global_key: str = Field("", description="Pusher key")
    global_secret: SecretStr = Field(SecretStr(""), description="Pusher secret")
    global_cluster: str = Field("", description="Pusher cluster, e.g. mt1")
    global_use_tls: bool = Field(False, description="https to Pusher")
    global_host: str = Field(
        "", description="self-hosted Pusher-protocol server (Soketi); empty: Pusher's cloud"
    )
    global_port: int = Field(
        0, ge=0, le=65535, description="port of GLOBAL_HOST; 0: 443 with TLS, else 80"
    )
    oversize_notice: bool = Field(
        False,
        description="an event over 10 KB sends a small notice (id, event, instance) instead of going to the DLQ",
    )
    batch_window_ms: int = Field(
        50,
        ge=0,
        le=1000,
        description="events for one app within this window share one trigger_batch",
    )


class WebsocketSettings(Family):
    model_config = SettingsConfigDict(env_prefix="WEBSOCKET_")
    prefix: ClassVar[str] = "WEBSOCKET_"
    enabled: bool = Field(False, description="serve /ws/{instance}")
    global_events: bool = Field(
        False,
        description="serve /ws with every instance's events, and stream the events switched on below to every instance (all of them when none is)",
    )
    allowed_hosts: str = Field(
        "",
        description="peer addresses that may connect without a token, comma-separated, or *; as in Evolution, but empty by default",
    )
    max_buffer: int = Field(
        256,
        ge=1,
        le=100_000,
        description="frames queued per client; a client that falls further behind is disconnected",
    )
    heartbeat_seconds: float = Field(
        30, gt=0, description="ping every client this often; one that does not answer is closed"
    )
    retention_max_age: str = Field(
        "1D",
        pattern=r"^[1-9][0-9]*[YMDhms]$",
        description="how long the stream keeps events for resuming (x-max-age: 1D, 12h, 30m)",
    )
    retention_max_bytes: int = Field(
        1_000_000_000, ge=1_000_000, description="most bytes the stream keeps for resuming"
    )

    def selected_events(self) -> frozenset[str]:
        """Wire names streamed for every instance: the switches on, all when none is, and none
        without ``GLOBAL_EVENTS`` (each instance's ``websocket`` block decides then)."""
        if not self.global_events:
            return frozenset()
        return self.enabled_events() or frozenset(e.wire for e in CATALOG)


class AuthenticationSettings(Family):
    """AUTHENTICATION_*: the API key of the HTTP API."""

    model_config = SettingsConfigDict(env_prefix="AUTHENTICATION_")
    prefix: ClassVar[str] = "AUTHENTICATION_"
    accepted_unused: ClassVar[tuple[str, ...]] = (
        "EXPOSE_IN_FETCH_INSTANCES",
        "TYPE",
        "JWT_EXPIRIN_IN",
        "JWT_SECRET",
        "INSTANCE_EXPIRIN_IN",
    )
    api_key: SecretStr = Field(
        SecretStr(""),
        description="key for the apikey header or Bearer token; empty: no auth (warned)",
    )


class ServerSettings(Family):
    """SERVER_*: the HTTP server of every role."""

    model_config = SettingsConfigDict(env_prefix="SERVER_")
    prefix: ClassVar[str] = "SERVER_"
    accepted_unused: ClassVar[tuple[str, ...]] = ("TYPE", "DISABLE_DOCS", "DISABLE_MANAGER")
    url: str = Field("", description="server_url of every envelope")
    port: int = Field(8080, ge=1, le=65535, description="HTTP port of every role")
    host: str = Field("0.0.0.0", description="address to listen on")
    name: str = Field("evolution", description="name reported in logs and the AMQP connection")


class LogSettings(Family):
    """LOG_*: log level and format."""

    model_config = SettingsConfigDict(env_prefix="LOG_")
    prefix: ClassVar[str] = "LOG_"
    accepted_unused: ClassVar[tuple[str, ...]] = ("COLOR", "BAILEYS")
    level: str = Field(
        "INFO",
        description="a level, or Evolution's list (ERROR,WARN,INFO,...): the most verbose listed wins",
    )
    format: str = Field(
        "auto",
        pattern="^(auto|json|console)$",
        description="json, console, or auto (console in a terminal)",
    )


class DatabaseSettings(Family):
    """DATABASE_URL: where per-instance configuration is stored."""

    model_config = SettingsConfigDict(env_prefix="DATABASE_")
    prefix: ClassVar[str] = "DATABASE_"
    # Evolution's own DATABASE_* variables share the prefix; they are not the router's to judge.
    checked: ClassVar[bool] = False
    url: str = Field(
        "",
        description="postgresql://user:pass@host/db to share configuration between replicas; empty: SQLite at ROUTER_STORE_PATH",
    )


class BridgeSettings(Family):
    """BRIDGE_*: the bridge role, which takes Evolution's RabbitMQ output in."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_")
    prefix: ClassVar[str] = "BRIDGE_"
    enabled: bool = Field(
        False, description="run the bridge role: consume Evolution's RabbitMQ output"
    )
    uri: SecretStr = Field(
        SecretStr(""),
        description="the broker Evolution publishes to (its RABBITMQ_URI); empty: RABBITMQ_URI",
    )
    exchange_name: str = Field(
        "evolution_exchange",
        description="Evolution's RABBITMQ_EXCHANGE_NAME (global mode); never the router's own",
    )
    global_enabled: bool = Field(
        True, description="consume Evolution's global exchange (its RABBITMQ_GLOBAL_ENABLED)"
    )
    instances: str = Field(
        "",
        description="comma-separated instances whose own exchanges to consume (Evolution's per-instance mode), besides those in the configuration store",
    )
    queue: str = Field(
        "", description="the bridge's queue on that broker; empty: <RABBITMQ_EXCHANGE_NAME>.bridge"
    )
    prefetch: int = Field(64, ge=1, description="messages taken at once from the bridge's queue")

    def instance_list(self) -> list[str]:
        return [name.strip() for name in self.instances.split(",") if name.strip()]


class RouterSettings(Family):
    """ROUTER_*: limits and tuning of the router itself."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_")
    prefix: ClassVar[str] = "ROUTER_"
    max_event_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="largest accepted event (JSON bytes)"
    )
    max_evolution_bytes: int = Field(
        128 * 1024 * 1024,
        ge=1024,
        description="largest body taken from Evolution (its webhook, the bridge), media included",
    )
    media_claim_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="an Evolution event larger than this has its base64 media stored aside (claim check)",
    )
    media_store: str = Field(
        "data/media",
        description="where media is stored aside: a directory, or s3://bucket/prefix for several hosts",
    )
    media_s3_endpoint_url: str = Field(
        "", description="an S3-compatible server for media_store s3://...; empty: AWS"
    )
    media_s3_region: str = Field("", description="the region of that bucket; empty: AWS's default")
    max_batch_events: int = Field(1000, ge=1, description="most events in one batch request")
    ingest_rate_per_instance: float = Field(
        0,
        ge=0,
        description="events per second each instance may publish, with a burst of as many; over it, 429 with Retry-After; 0: no limit",
    )
    max_batch_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="largest accepted batch request body"
    )
    publish_timeout_seconds: float = Field(
        10, gt=0, description="wait for RabbitMQ's confirm this long, then 503"
    )
    resend_window_seconds: float = Field(
        300,
        ge=0,
        description="an event sent again under an id confirmed this recently is answered 202 without being published twice (per process)",
    )
    resend_max_ids: int = Field(
        50_000,
        ge=0,
        description="most confirmed ids remembered for RESEND_WINDOW_SECONDS (about 200 bytes each)",
    )
    archive_enabled: bool = Field(
        True,
        description="keep every event in the <exchange>.archive stream, for replay (POST /replay, router replay)",
    )
    archive_max_age: str = Field(
        "7D",
        pattern=r"^[1-9][0-9]*[YMDhms]$",
        description="how long the archive keeps events (x-max-age: 7D, 48h)",
    )
    archive_max_bytes: int = Field(
        10_000_000_000, ge=1_000_000, description="most bytes the archive keeps"
    )
    archive_segment_bytes: int = Field(
        100_000_000,
        ge=4096,
        description="the archive's segment size; retention drops whole segments, so this is how finely it keeps to MAX_AGE and MAX_BYTES",
    )
    prefetch: int = Field(64, ge=1, description="unacked deliveries per adapter consumer")
    delivery_timeout_seconds: float = Field(
        120, gt=0, description="longest one delivery may take before it is retried"
    )
    store_path: str = Field(
        "data/router.sqlite3",
        description="SQLite file for per-instance configuration (when DATABASE_URL is not postgres)",
    )
    secrets_key: SecretStr = Field(
        SecretStr(""),
        description="Fernet key(s), comma-separated, sealing the secrets of per-instance configuration in the store (webhook secrets and credentials, Pusher secrets, instance tokens); the first seals, every one opens, so a new key goes first to rotate; empty: stored unencrypted (warned)",
    )
    max_webhooks_per_instance: int = Field(
        3, ge=1, description="enabled webhooks one instance may have"
    )
    strict_env: bool = Field(
        True, description="refuse to start on an unknown variable in a known family"
    )
    status_seconds: float = Field(
        5,
        gt=0,
        description="how often each delivering process tells the console what it has in flight and how its webhook receivers' breakers stand",
    )
    history_enabled: bool = Field(
        True,
        description="record every delivery attempt in the configuration store's database, for GET /attempts",
    )
    history_retention_hours: float = Field(
        168, gt=0, description="attempt records older than this are removed"
    )
    history_max_rows: int = Field(
        1_000_000, ge=1, description="most attempt records kept; the oldest beyond are removed"
    )
    history_flush_seconds: float = Field(
        1, gt=0, description="write the attempt records waiting in memory at least this often"
    )
    history_batch: int = Field(
        500, ge=1, description="write at once when this many attempt records wait; rows per write"
    )
    history_buffer_rows: int = Field(
        20_000,
        ge=1,
        description="most attempt records waiting in memory; when full the oldest are dropped (router_history_dropped_total), never a delivery slowed",
    )
    history_prune_seconds: float = Field(
        60, gt=0, description="remove records past the retention or the row bound this often"
    )

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key(cls, value: SecretStr) -> SecretStr:
        parse_keys(value.get_secret_value())
        return value


RABBITMQ = with_event_switches(
    RabbitmqSettings, "RABBITMQ_*: the broker, and queues for downstream consumers."
)
WEBHOOK = with_event_switches(
    WebhookSettings, "WEBHOOK_*: the global webhook and delivery retries."
)
SQS = with_event_switches(SqsSettings, "SQS_*: Amazon SQS or a compatible server.")
PUSHER = with_event_switches(
    PusherSettings, "PUSHER_*: Pusher channels or a Pusher-protocol server."
)
WEBSOCKET = with_event_switches(
    WebsocketSettings, "WEBSOCKET_*: live events for browsers and apps, resumable."
)

FAMILIES: dict[str, type[Family]] = {
    "rabbitmq": RABBITMQ,
    "webhook": WEBHOOK,
    "sqs": SQS,
    "pusher": PUSHER,
    "websocket": WEBSOCKET,
    "authentication": AuthenticationSettings,
    "server": ServerSettings,
    "log": LogSettings,
    "router": RouterSettings,
    "database": DatabaseSettings,
    "bridge": BridgeSettings,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every family, read from the environment and an optional .env file."""

    rabbitmq: RabbitmqSettings
    webhook: WebhookSettings
    sqs: SqsSettings
    pusher: PusherSettings
    websocket: WebsocketSettings
    authentication: AuthenticationSettings
    server: ServerSettings
    log: LogSettings
    router: RouterSettings
    database: DatabaseSettings
    bridge: BridgeSettings

    @classmethod
    def load(cls, env_file: str | Path | None = None) -> Settings:
        """Read every family; refuse unknown variables inside a family (see ``router.config.envcheck``)."""
        environment = read_environment(env_file)
        environ = environment.merged
        checked = {fam.prefix: fam.known_names() for fam in FAMILIES.values() if fam.checked}
        check_environment(environ, checked)
        families: dict[str, Family] = {}
        problems: list[str] = []
        for name, fam in FAMILIES.items():
            try:
                families[name] = fam.from_environment(environment)
            except ValidationError as exc:
                problems.extend(invalid_values(fam, exc, environ))
        if problems:
            raise SettingsError("invalid values:\n  " + "\n  ".join(problems))
        return cls(**families)  # type: ignore[arg-type]

    @classmethod
    def build(cls, **overrides: Mapping[str, Any]) -> Settings:
        """Defaults plus keyword overrides by field name, ignoring the environment (tests,
        embedding): ``Settings.build(webhook={"global_enabled": True})``."""
        unknown = set(overrides) - set(FAMILIES)
        if unknown:
            raise TypeError(f"unknown settings families: {sorted(unknown)}")
        return cls(
            **{
                name: fam.model_validate(dict(overrides.get(name, {})))
                for name, fam in FAMILIES.items()
            }  # type: ignore[arg-type]
        )

    def items(self) -> Iterator[tuple[str, Family]]:
        for name in FAMILIES:
            yield name, getattr(self, name)
