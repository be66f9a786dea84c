"""``GET /destinations``: where events wait, and which webhooks are not being served.

For each delivering role, what its queues hold on the broker now: the work queue (waiting for a
first try), the delay queues of its retries (waiting to be tried again) and its dead-letter
queue. Beside them the global webhook and every per-instance webhook with its state: delivering,
failing since a time, or disabled (when and why). Served by the ingest role, with the API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from router.amqp.topology import AdapterBinding
from router.delivery import dlq
from router.http.appkeys import CONFIG, SETTINGS
from router.http.deadletters import broker_errors
from router.http.dialects.common import guarded
from router.http.openapi import (
    Operation,
    Reply,
    array,
    boolean,
    documented,
    integer,
    nullable,
    obj,
    refusals,
    string,
)
from router.http.requests import Refused, json_response
from router.logging import mask_url
from schemas.instance_config import InstanceConfig

MAX_WEBHOOKS: Final = 1000  # listed, the troubled first


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


async def overview(request: web.Request) -> web.Response:
    places = request.app[PLACES]
    names = [name for role in places.roles for name in role.names()]
    async with broker_errors():
        depths = await dlq.counts(places.url, names)
    try:
        configs = await request.app[CONFIG].store.all()
    except Exception as exc:
        raise Refused(503, "store_unavailable", f"the configuration store failed: {exc}") from None
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
                "enabled": webhook.global_enabled,
            },
            "webhooks": rows[:MAX_WEBHOOKS],
            "webhooks_left_out": max(0, len(rows) - MAX_WEBHOOKS),
        },
        200,
    )


COUNT = nullable(integer(minimum=0))
OVERVIEW = Operation(
    "Where events wait, by role, and every webhook's state",
    "destinations",
    {
        200: Reply(
            "Counts are null for a queue not declared yet (its role never ran).",
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
                        {"url": nullable(string()), "enabled": boolean()}, ["url", "enabled"]
                    ),
                    "webhooks": array(
                        obj(
                            {
                                "instance": string(),
                                "label": string(),
                                "url": string(),
                                "state": string(enum=["delivering", "failing", "disabled"]),
                                "failing_since": nullable(string()),
                                "disabled_at": nullable(string()),
                                "disabled_reason": nullable(string()),
                            },
                            ["instance", "label", "url", "state"],
                        )
                    ),
                    "webhooks_left_out": integer(minimum=0),
                },
                ["roles", "global_webhook", "webhooks", "webhooks_left_out"],
            ),
        )
    }
    | refusals(401, 503),
)


def add_routes(app: web.Application, url: str, bindings: Sequence[AdapterBinding]) -> None:
    app[PLACES] = Places(url, tuple(RoleQueues.of(b) for b in bindings))
    documented(app, "GET", "/destinations", guarded(overview), OVERVIEW)
