"""The HTTP application of every role: ingest routes when the ingest role runs, adapter
consumers for the adapter roles, and ``/healthz``, ``/readyz``, ``/metrics`` everywhere."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from router import bridge, metrics
from router.amqp.archive import archive_binding, archive_name
from router.amqp.broker import Broker
from router.amqp.ledger import Ledger
from router.amqp.publisher import Publisher
from router.amqp.topology import (
    AdapterBinding,
    AdapterQueues,
    StreamBinding,
    Topology,
    downstream_queues,
    ingest_dlq_name,
)
from router.config.configsvc import ConfigService
from router.config.settings import Settings
from router.config.store import ConfigStore, Sealer, open_store
from router.delivery import registry
from router.delivery.adapter import Adapter, Routed
from router.delivery.consumer import Consumer
from router.delivery.gateway import Gateway
from router.delivery.lifecycle import Lifecycle
from router.delivery.livecfg import LiveConfig
from router.delivery.notices import ERRORS_REPORTER, Notices
from router.delivery.retryqueues import delays_ms
from router.delivery.status import ReportsReceivers, StatusBoard, StatusReporter
from router.history import Recorder
from router.http import (
    attempts,
    console,
    deadletters,
    destinations,
    dialects,
    endpoints,
    evolution_webhook,
    ingest,
    openapi,
    replay,
)
from router.http.appkeys import (
    BROKER,
    CONFIG,
    CONSUMERS,
    HISTORY,
    INGEST_RATES,
    PUBLISHER,
    ROLES,
    SETTINGS,
    STATUS,
)
from router.http.errors import json_errors
from router.http.ratelimit import TokenBuckets
from router.http.replay import REPLAYS
from router.logging import get_logger
from router.media import open_media_store
from router.replay.service import ReplayService, refill, through
from router.roles import ADAPTER_ROLES, NAMES, role_of

ADAPTERS = web.AppKey("adapters", dict[str, Routed])
STORE = web.AppKey("store", ConfigStore)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
LIVE = web.AppKey("live", LiveConfig)
REPORTER = web.AppKey("status_reporter", StatusReporter)
log = get_logger("router.app")


def enabled_adapters(settings: Settings) -> dict[str, Routed]:
    """Every destination the settings switch on, by name, built without I/O. A role's factory
    may give several (the webhook role also runs its errors reporter, ``webhook-errors``)."""
    found: dict[str, Routed] = {}
    installed = set(registry.available())
    for role in ADAPTER_ROLES:
        if role in installed:
            for adapter in registry.build(role, settings):
                found[adapter.name] = adapter
    return found


def dead_letter_queues(exchange: str, adapters: Mapping[str, Routed]) -> dict[str, str]:
    """Every dead-letter queue of the deployment, by the role (or adapter) that fills it."""
    return {"ingest": ingest_dlq_name(exchange)} | {
        name: AdapterQueues.for_role(exchange, name).dlq
        for name, adapter in adapters.items()
        if isinstance(adapter, Adapter)  # a gateway reads a stream: it has none
    }


def topology_for(settings: Settings, adapters: Mapping[str, Routed]) -> Topology:
    """The whole topology the settings imply, whichever roles this process runs."""
    rabbit = settings.rabbitmq
    exchange = rabbit.exchange_name
    downstream = (
        downstream_queues(rabbit.prefix_key, sorted(rabbit.enabled_events()))
        if rabbit.enabled and rabbit.global_enabled
        else ()
    )
    return Topology(
        exchange=exchange,
        adapters=tuple(
            AdapterBinding(
                AdapterQueues.for_role(exchange, name),
                adapter.routing_keys(),
                isinstance(adapter, Adapter) and adapter.feed.dead_letters,
                delays_ms(adapter.retry_policy) if isinstance(adapter, Adapter) else (),
            )
            for name, adapter in adapters.items()
            if not isinstance(adapter, Gateway)
        ),
        downstream_queues=downstream,
        streams=(
            *(a.stream(exchange) for a in adapters.values() if isinstance(a, Gateway)),
            *archive_streams(settings),
        ),
        ingest_dlq=True,
        announcements=True,
    )


def archive_streams(settings: Settings) -> tuple[StreamBinding, ...]:
    limits = settings.router
    if not limits.archive_enabled:
        return ()
    exchange = settings.rabbitmq.exchange_name
    return (
        archive_binding(
            exchange,
            limits.archive_max_age,
            limits.archive_max_bytes,
            limits.archive_segment_bytes,
        ),
    )


def resolve_roles(
    requested: Iterable[str] | None, adapters: Mapping[str, Routed], *, bridge: bool = False
) -> list[str]:
    """``None`` means every role: ingest, the bridge when enabled, and each enabled adapter's."""
    present = list(dict.fromkeys(role_of(name) for name in adapters))
    if bridge:
        present.insert(0, "bridge")
    if not requested:
        return ["ingest", *present]
    roles = list(dict.fromkeys(requested))
    for role in roles:
        if role == "ingest" or role in present:
            continue
        if role in NAMES:
            raise ValueError(f"role {role!r} is not enabled by the settings (or not installed)")
        known = ", ".join(NAMES)
        raise ValueError(f"unknown role {role!r}; roles: {known}")
    return roles


def create_app(
    settings: Settings,
    roles: Iterable[str] | None = None,
    *,
    adapters: Mapping[str, Routed] | None = None,
    store: ConfigStore | None = None,
) -> web.Application:
    adapters = dict(enabled_adapters(settings) if adapters is None else adapters)
    chosen = resolve_roles(roles, adapters, bridge=settings.bridge.enabled)
    limits = settings.router
    app = web.Application(
        client_max_size=max(limits.max_event_bytes, limits.max_batch_bytes) + 1,
        # The console's session stands in for the key on every role, /ws included.
        middlewares=[json_errors, console.sessions],
    )
    topology = topology_for(settings, adapters)
    broker = Broker(
        settings.rabbitmq.uri.get_secret_value(),
        name=f"{settings.server.name}-router[{','.join(chosen)}]",
        provisioned=settings.rabbitmq.provisioned,
        # Ingest answers 503 at once while RabbitMQ blocks publishers, so it must know first.
        watch_alarms="ingest" in chosen,
    )
    app[SETTINGS] = settings
    app[BROKER] = broker
    app[ROLES] = chosen

    # The publisher declares the whole topology on every connection, whatever the roles;
    # asked anew each time, since per-instance configuration changes the bindings.
    app[PUBLISHER] = publisher = Publisher(
        broker,
        lambda: topology_for(settings, adapters),
        timeout=limits.publish_timeout_seconds,
        server_url=settings.server.url or None,
        ledger=Ledger(limits.resend_window_seconds, limits.resend_max_ids),
    )
    running = {name: a for name, a in adapters.items() if role_of(name) in chosen}
    app[ADAPTERS] = running
    if store is None:
        store = open_store(
            settings.database.url or None,
            settings.router.store_path,
            sealer=Sealer.from_text(settings.router.secrets_key.get_secret_value()),
        )
    app[STORE] = store
    history = Recorder.from_settings(limits, store.attempts) if limits.history_enabled else None
    if history is not None:
        app[HISTORY] = history
    live = LiveConfig(
        broker, store, topology.exchange, adapters, instance_queues=settings.rabbitmq.enabled
    )
    app[LIVE] = live
    if "ingest" in chosen and limits.archive_enabled:
        app[REPLAYS] = ReplayService(
            through(broker),
            archive_name(topology.exchange),
            lambda: topology_for(settings, adapters),
            store,
        )
    app[CONFIG] = ConfigService(
        store,
        live.announce,
        max_webhooks=settings.router.max_webhooks_per_instance,
        ready=lambda: broker.ready,
        apply_here=live.apply,
        url_refusal=settings.webhook.guard().url_refusal,
        backfill=app[REPLAYS].backfill if REPLAYS in app else None,
    )
    if "webhook" in running:
        notices = Notices(broker, topology.exchange, enabled=ERRORS_REPORTER in adapters)
        disable_after = settings.webhook.disable_after_seconds
        app[LIFECYCLE] = Lifecycle(app[CONFIG], notices, disable_after)
    gaps = (
        functools.partial(refill, through(broker), archive_name(topology.exchange))
        if limits.archive_enabled
        else None
    )
    consumers = {
        name: Consumer(
            broker,
            adapter,
            topology.exchange,
            # An adapter that batches asks for more in flight, so batches can fill.
            prefetch=max(limits.prefetch, adapter.feed.prefetch),
            deliver_timeout=limits.delivery_timeout_seconds,
            history=history,
            refill=gaps,
            watch=app[LIFECYCLE].heard if LIFECYCLE in app else None,
        )
        for name, adapter in running.items()
        if isinstance(adapter, Adapter)  # a gateway has no deliver: it reads a stream
    }
    app[CONSUMERS] = list(consumers.values())
    live.attach(consumers)
    # What each new connection does, in this order: the topology declared; every instance's
    # configuration read again (announcements missed while disconnected), before any consumer
    # can see an event it needs; the consumers consuming; then the announcements followed, so
    # a change can rebind consumers that exist.
    for step in (publisher.setup, live.reload, *(c.setup for c in consumers.values()), live.setup):
        broker.add_setup(step)
    if consumers:
        app[REPORTER] = reporter = StatusReporter(
            broker,
            topology.exchange,
            functools.partial(in_flight_by_role, consumers),
            [a for a in running.values() if isinstance(a, ReportsReceivers)],
            limits.status_seconds,
        )
        broker.add_setup(reporter.setup)
    if "ingest" in chosen:
        app[STATUS] = board = StatusBoard(broker, topology.exchange, limits.status_seconds)
        broker.add_setup(board.setup)
    for gateway in running.values():
        if isinstance(gateway, Gateway):
            gateway.install(app, broker, store, topology.exchange)
    if "ingest" in chosen:
        if limits.ingest_rate_per_instance:
            app[INGEST_RATES] = TokenBuckets(limits.ingest_rate_per_instance)
        ingest.add_routes(app)
        evolution_webhook.add_routes(app, open_media_store(settings.router))
        dialects.add_routes(app)
        attempts.add_routes(app, store.attempts if limits.history_enabled else None)
        replay.add_routes(app)
        endpoints.add_routes(app)
        console.add_routes(app)
        deadletters.add_routes(
            app,
            settings.rabbitmq.uri.get_secret_value(),
            dead_letter_queues(topology.exchange, adapters),
        )
        destinations.add_routes(
            app,
            settings.rabbitmq.uri.get_secret_value(),
            topology.adapters,
            topology.downstream_queues,
            per_instance=settings.rabbitmq.enabled,
        )
        if not settings.authentication.api_key.get_secret_value():
            log.warning(
                "auth.disabled", detail="AUTHENTICATION_API_KEY is empty: ingest accepts any caller"
            )
    openapi.documented(app, "GET", "/healthz", healthz, HEALTHZ)
    openapi.documented(app, "GET", "/readyz", readyz, READYZ)
    openapi.documented(app, "GET", "/metrics", prometheus, METRICS)
    openapi.add_routes(app)
    app.cleanup_ctx.append(lifetime)
    if "bridge" in chosen:
        bridge.install(app, settings, store, live)
    log.info(
        "app.created",
        roles=chosen,
        exchange=topology.exchange,
        adapter_queues=[b.queues.work for b in topology.adapters],
        downstream_queues=[q for q, _ in topology.downstream_queues],
    )
    return app


def in_flight_by_role(consumers: Mapping[str, Consumer]) -> dict[str, int]:
    """By the name each queue is named after, as GET /destinations lists them (the webhook
    role's errors reporter apart from its webhooks)."""
    return {name: consumer.in_flight for name, consumer in consumers.items()}


async def lifetime(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.open()
    if HISTORY in app:
        await app[HISTORY].start()
    # Subscriptions are loaded before any consumer can see an event that needs them.
    await app[LIVE].load()
    adapters = app[ADAPTERS]
    for adapter in adapters.values():
        await adapter.start()
    broker = app[BROKER]
    await broker.start()
    await app[LIVE].start()
    yield
    if REPORTER in app:
        await app[REPORTER].close()
    await app[LIVE].close()
    if REPLAYS in app:
        await app[REPLAYS].close()
    for consumer in app[CONSUMERS]:
        with contextlib.suppress(Exception):
            await consumer.stop()
    if LIFECYCLE in app:  # after the consumers: their last outcomes may still change it
        await app[LIFECYCLE].close()
    await broker.close()
    for adapter in adapters.values():
        with contextlib.suppress(Exception):
            await adapter.close()
    # After the consumers: the outcomes of deliveries that settled while stopping are written.
    if HISTORY in app:
        await app[HISTORY].close()
    await store.close()


HEALTHZ = openapi.Operation(
    "The process is up",
    "operations",
    {200: openapi.Reply("Up.", openapi.obj({"status": openapi.string()}, ["status"]))},
    auth="none",
)
READY = openapi.obj(
    {
        "status": openapi.string(enum=["ready", "unavailable"]),
        "broker": openapi.boolean("Connected to RabbitMQ, topology declared."),
        "bridge_source": openapi.boolean("The bridge role: connected to Evolution's broker."),
        "blocked": openapi.string("Why RabbitMQ blocks publishers, when it does."),
    },
    ["status", "broker"],
)
READYZ = openapi.Operation(
    "Ready to serve: RabbitMQ connected and not blocking publishers",
    "operations",
    {200: openapi.Reply("Ready.", READY), 503: openapi.Reply("Not ready; says why.", READY)},
    auth="none",
)
METRICS = openapi.Operation(
    "Prometheus metrics",
    "operations",
    {200: openapi.Reply("The text exposition format.", openapi.string(), "text/plain")},
    auth="none",
)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    connected, blocked = broker.ready, broker.blocked
    metrics.BROKER_UP.set(1 if connected else 0)
    metrics.BROKER_BLOCKED.set(0 if blocked is None else 1)
    ready = connected and blocked is None
    body: dict[str, object] = {"status": "ready" if ready else "unavailable", "broker": connected}
    if bridge.BRIDGE in request.app:
        # The bridge also needs the broker Evolution publishes to.
        source = request.app[bridge.BRIDGE].broker.ready
        body["bridge_source"] = source
        ready = ready and source
        body["status"] = "ready" if ready else "unavailable"
    if blocked is not None:
        body["blocked"] = f"RabbitMQ blocks publishers: {blocked}"
    return web.json_response(body, status=200 if ready else 503)


async def prometheus(request: web.Request) -> web.Response:
    metrics.BROKER_UP.set(1 if request.app[BROKER].ready else 0)
    metrics.BROKER_BLOCKED.set(0 if request.app[BROKER].blocked is None else 1)
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
