"""``GET /destinations``: where events wait, which webhooks are not being served, what the AMQP
consumers' queues hold, and how each destination has done over the last minutes.

For each delivering role, what its queues hold on the broker now: the work queue (waiting for a
first try), the delay queues of its retries (waiting to be tried again) and its dead-letter
queue. Beside them the global webhook and every per-instance webhook with its state: delivering,
failing since a time, or disabled (when and why). Then every destination's attempts by minute
from the attempt history: success rate and latency, the worst first. Served by the ingest role,
with the API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from router.amqp.topology import AdapterBinding
from router.delivery import dlq
from router.delivery.status import receiver_of
from router.history.traffic import Window, traffic
from router.http.amqpqueues import AMQP, MAX_QUEUES, amqp_queues, amqp_rows
from router.http.appkeys import ATTEMPTS, CONFIG, SETTINGS, STATUS
from router.http.deadletters import broker_errors
from router.http.dialects.common import guarded
from router.http.openapi import (
    Operation,
    Param,
    Reply,
    array,
    boolean,
    documented,
    integer,
    nullable,
    number,
    obj,
    refusals,
    string,
)
from router.http.requests import Refused, json_response, query_limit, query_value
from router.logging import mask_url
from schemas.instance_config import InstanceConfig

MAX_WEBHOOKS: Final = 1000  # listed, the troubled first
MAX_TRAFFIC: Final = 1000  # destinations with traffic listed, the worst first
DEFAULT_MINUTES: Final = 15
MAX_MINUTES: Final = 60


@dataclass(frozen=True, slots=True)
class RoleQueues:
    role: str
    work: str
    delays: tuple[str, ...]
    dlq: str

    @classmethod
    def of(cls, binding: AdapterBinding) -> RoleQueues:
        queues = binding.queues
        delays = tuple(queues.delay(ms) for ms in binding.delays)
        return cls(queues.role, queues.work, delays, queues.dlq)

    def names(self) -> tuple[str, ...]:
        return (self.work, *self.delays, self.dlq)


@dataclass(frozen=True, slots=True)
class Places:
    url: str
    roles: tuple[RoleQueues, ...]
    downstream: tuple[tuple[str, str], ...]  # the global AMQP queues: (name, binding)
    per_instance: bool  # RABBITMQ_ENABLED: instances' rabbitmq blocks declare queues


PLACES = web.AppKey("destination_places", Places)


def state_of(enabled: bool, failing_since: str | None, disabled_at: str | None) -> str:
    if disabled_at is not None or not enabled:
        return "disabled"
    return "failing" if failing_since is not None else "delivering"


def webhook_rows(configs: Sequence[InstanceConfig]) -> list[dict[str, Any]]:
    """Every per-instance webhook, disabled ones first, then failing, then the rest by name."""
    rows = [
        {
            "instance": config.instance,
            "label": hook.label,
            "url": mask_url(hook.url),
            "receiver": receiver_of(hook.url),
            "state": state_of(hook.enabled, hook.failing_since, hook.disabled_at),
            "failing_since": hook.failing_since,
            "disabled_at": hook.disabled_at,
            "disabled_reason": hook.disabled_reason,
        }
        for config in configs
        for hook in config.webhooks
    ]
    order = {"disabled": 0, "failing": 1, "delivering": 2}
    rows.sort(key=lambda r: (order[str(r["state"])], str(r["instance"]), str(r["label"])))
    return rows


def retrying(depths: dict[str, int | None], delays: Sequence[str]) -> int:
    """What the delay queues hold together: each is declared when a retry first waits there,
    so one not declared holds nothing."""
    return sum(depths[name] or 0 for name in delays)


async def recent(request: web.Request, minutes: int) -> dict[str, Any] | None:
    """Every destination's last ``minutes``; None with the attempt history off."""
    attempts = request.app.get(ATTEMPTS)
    if attempts is None:
        return None
    window = Window.ending(datetime.now(UTC), minutes)
    try:
        rows = await attempts.traffic(window.since)
    except Exception as exc:
        raise Refused(
            503, "store_unavailable", f"the attempt history could not be read: {exc}"
        ) from None
    found = traffic(rows, window)
    return {
        "minutes": list(window.minutes),
        "destinations": found[:MAX_TRAFFIC],
        "left_out": max(0, len(found) - MAX_TRAFFIC),
    }


async def overview(request: web.Request) -> web.Response:
    minutes = query_limit(
        query_value(request, "minutes"), DEFAULT_MINUTES, MAX_MINUTES, name="minutes"
    )
    places = request.app[PLACES]
    try:
        configs = await request.app[CONFIG].store.all()
    except Exception as exc:
        raise Refused(503, "store_unavailable", f"the configuration store failed: {exc}") from None
    consumed = amqp_queues(places.downstream, configs, places.per_instance)
    names = [name for role in places.roles for name in role.names()]
    names += [q.name for q in consumed[:MAX_QUEUES]]
    async with broker_errors():
        found = await dlq.depths(places.url, names)
    depths = {name: None if d is None else d.messages for name, d in found.items()}
    webhook = request.app[SETTINGS].webhook
    rows = webhook_rows(configs)
    return json_response(
        {
            "roles": [
                {
                    "role": role.role,
                    "waiting": depths[role.work],
                    "retrying": retrying(depths, role.delays),
                    "dead": depths[role.dlq],
                }
                for role in places.roles
            ],
            "global_webhook": {
                "url": mask_url(webhook.global_url) if webhook.global_url else None,
                "receiver": receiver_of(webhook.global_url) if webhook.global_url else None,
                "enabled": webhook.global_enabled,
            },
            "webhooks": rows[:MAX_WEBHOOKS],
            "webhooks_left_out": max(0, len(rows) - MAX_WEBHOOKS),
            "amqp": {
                "queues": amqp_rows(consumed[:MAX_QUEUES], found),
                "left_out": max(0, len(consumed) - MAX_QUEUES),
            },
            "traffic": await recent(request, minutes),
            "live": request.app[STATUS].live(),
        },
        200,
    )


COUNT = nullable(integer(minimum=0))
RECEIVER = "The origin its requests go to; live.receivers tells how it stands."
LIVE = obj(
    {
        "processes": integer("Delivering processes heard from lately.", minimum=0),
        "in_flight": {
            "type": "object",
            "description": "Deliveries under way, by role.",
            "additionalProperties": integer(minimum=0),
        },
        "receivers": array(
            obj(
                {
                    "receiver": string(),
                    "in_flight": integer(minimum=0),
                    "waiting": integer("Events held for a free slot.", minimum=0),
                    "breaker": string(enum=["closed", "probing", "open"]),
                    "reopens_in": nullable(number("Seconds until a probe may go.", minimum=0)),
                    "latency_ms": nullable(number(minimum=0)),
                },
                ["receiver", "in_flight", "waiting", "breaker", "reopens_in", "latency_ms"],
            ),
            "Every webhook receiver as the worst-off process sees it, open breakers first.",
        ),
    },
    ["processes", "in_flight", "receivers"],
    description="What the delivering processes say they are doing, every few seconds.",
)
SERIES = array(integer(minimum=0))
TRAFFIC = obj(
    {
        "minutes": array(string(), "Each minute of the window, the current one last."),
        "destinations": array(
            obj(
                {
                    "adapter": string(),
                    "instance": nullable(string()),
                    "label": nullable(string()),
                    "destination": string(),
                    "delivered": integer(minimum=0),
                    "retried": integer(minimum=0),
                    "dead": integer(minimum=0),
                    "skipped": integer(minimum=0),
                    "deferred": integer(
                        "Held back unsent (an open breaker, full slots).", minimum=0
                    ),
                    "success_rate": nullable(number(minimum=0, maximum=1)),
                    "mean_ms": nullable(number(minimum=0)),
                    "max_ms": number(minimum=0),
                    "delivered_by_minute": SERIES,
                    "failed_by_minute": SERIES,
                    "mean_ms_by_minute": array(nullable(number(minimum=0))),
                },
                [
                    "adapter",
                    "instance",
                    "label",
                    "destination",
                    "delivered",
                    "retried",
                    "dead",
                    "skipped",
                    "deferred",
                    "success_rate",
                    "mean_ms",
                    "max_ms",
                    "delivered_by_minute",
                    "failed_by_minute",
                    "mean_ms_by_minute",
                ],
            )
        ),
        "left_out": integer(minimum=0),
    },
    ["minutes", "destinations", "left_out"],
)
OVERVIEW = Operation(
    "Where events wait, by role, and every webhook's state",
    "destinations",
    {
        200: Reply(
            "Counts are null for a queue not declared yet (its role never ran); traffic is"
            " null with the attempt history off.",
            obj(
                {
                    "roles": array(
                        obj(
                            {
                                "role": string(),
                                "waiting": COUNT,
                                "retrying": integer(minimum=0),
                                "dead": COUNT,
                            },
                            ["role", "waiting", "retrying", "dead"],
                        )
                    ),
                    "global_webhook": obj(
                        {
                            "url": nullable(string()),
                            "receiver": nullable(string()),
                            "enabled": boolean(),
                        },
                        ["url", "receiver", "enabled"],
                    ),
                    "webhooks": array(
                        obj(
                            {
                                "instance": string(),
                                "label": string(),
                                "url": string(),
                                "receiver": string(RECEIVER),
                                "state": string(enum=["delivering", "failing", "disabled"]),
                                "failing_since": nullable(string()),
                                "disabled_at": nullable(string()),
                                "disabled_reason": nullable(string()),
                            },
                            ["instance", "label", "url", "receiver", "state"],
                        )
                    ),
                    "webhooks_left_out": integer(minimum=0),
                    "amqp": AMQP,
                    "traffic": nullable(TRAFFIC),
                    "live": LIVE,
                },
                [
                    "roles",
                    "global_webhook",
                    "webhooks",
                    "webhooks_left_out",
                    "amqp",
                    "traffic",
                    "live",
                ],
            ),
        )
    }
    | refusals(400, 401, 503),
    params=(
        Param(
            "minutes",
            "query",
            integer(minimum=1, maximum=MAX_MINUTES),
            f"The traffic window, in minutes; {DEFAULT_MINUTES} when absent.",
        ),
    ),
)


def add_routes(
    app: web.Application,
    url: str,
    bindings: Sequence[AdapterBinding],
    downstream: Sequence[tuple[str, str]],
    per_instance: bool,
) -> None:
    roles = tuple(RoleQueues.of(b) for b in bindings)
    app[PLACES] = Places(url, roles, tuple(downstream), per_instance)
    documented(app, "GET", "/destinations", guarded(overview), OVERVIEW)
