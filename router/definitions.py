"""RabbitMQ definitions (the JSON that ``rabbitmqctl import_definitions`` and the management
UI import) of everything the router declares under the current settings.

An operator provisions the broker with them and runs every role with
``RABBITMQ_PROVISIONED=true`` as a user whose configure permission covers server-named queues
only (``amq.gen-*``, the private queues each process receives configuration announcements and
the delivering processes' status on, removed with its connection). Everything else comes from the same code that declares it:
exchanges, queues and their arguments, bindings, and every retry queue the retry policy can
use (the router declares those on first use; provisioned, they exist from the start).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from router.amqp.broker import parse_uris
from router.amqp.topology import DLQ_ARGUMENTS, QUORUM, ingest_dlq_name, status_exchange_name
from router.app import enabled_adapters, topology_for
from router.config.settings import Settings

DEFAULT_USER = "evrouter"
# Server-named queues only: RabbitMQ refuses client-chosen names starting with "amq.".
CONFIGURE = r"^amq\.gen-.*$"


def vhost_of(uri: str) -> str:
    """The virtual host of an AMQP URI, as the client reads it ("/" when none is given)."""
    path = urlsplit(uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def alternatives(patterns: Iterable[str]) -> str:
    return "^(" + "|".join(patterns) + ")$"


def permissions(exchange: str, downstream: Iterable[str]) -> dict[str, str]:
    """Least privilege: read and write on the router's own names; write on the default
    exchange too, through which retries are parked."""
    own = [re.escape(exchange), re.escape(exchange) + r"\..*", r"amq\.gen-.*"]
    return {
        "configure": CONFIGURE,
        "write": alternatives([*own, r"amq\.default", *map(re.escape, downstream)]),
        "read": alternatives(own),
    }


class Builder:
    def __init__(self, vhost: str) -> None:
        self.vhost = vhost
        self.exchanges: dict[str, dict[str, Any]] = {}
        self.queues: dict[str, dict[str, Any]] = {}
        self.bindings: list[dict[str, Any]] = []

    def exchange(self, name: str, kind: str = "topic") -> None:
        self.exchanges[name] = {
            "name": name,
            "vhost": self.vhost,
            "type": kind,
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        }

    def queue(self, name: str, arguments: dict[str, Any]) -> None:
        self.queues[name] = {
            "name": name,
            "vhost": self.vhost,
            "durable": True,
            "auto_delete": False,
            "arguments": dict(sorted(arguments.items())),
        }

    def bind(self, source: str, queue: str, keys: Iterable[str]) -> None:
        for key in sorted(keys):
            self.bindings.append(
                {
                    "source": source,
                    "vhost": self.vhost,
                    "destination": queue,
                    "destination_type": "queue",
                    "routing_key": key,
                    "arguments": {},
                }
            )


def stream_arguments(stream: Any) -> dict[str, Any]:
    arguments = stream.arguments
    return dict(arguments() if callable(arguments) else arguments)


def definitions(settings: Settings, user: str = DEFAULT_USER) -> dict[str, Any]:
    adapters = enabled_adapters(settings)
    topology = topology_for(settings, adapters)
    vhost = vhost_of(parse_uris(settings.rabbitmq.uri.get_secret_value())[0])
    out = Builder(vhost)
    out.exchange(topology.exchange)
    if topology.announcements:
        out.exchange(topology.config_exchange, "fanout")
        out.exchange(status_exchange_name(topology.exchange), "fanout")
    for binding in topology.adapters:
        queues = binding.queues
        out.exchange(queues.dead_exchange)
        out.queue(queues.dlq, DLQ_ARGUMENTS)
        out.bind(queues.dead_exchange, queues.dlq, [queues.role])
        out.queue(queues.work, queues.work_arguments())
        source = queues.dead_exchange if binding.dead_letters else topology.exchange
        out.bind(source, queues.work, binding.routing_keys)
        for delay in binding.delays:
            out.queue(queues.delay(delay), queues.delay_arguments(delay))
    for name, key in topology.downstream_queues:
        out.queue(name, QUORUM)
        out.bind(topology.exchange, name, [key])
    for stream in topology.streams:
        out.queue(stream.name, stream_arguments(stream))
        out.bind(topology.exchange, stream.name, stream.routing_keys)
    out.queue(ingest_dlq_name(topology.exchange), DLQ_ARGUMENTS)
    downstream = [name for name, _ in topology.downstream_queues]
    return {
        "users": [
            # No password: set one with `rabbitmqctl change_password` after the import.
            {
                "name": user,
                "password_hash": "",
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
                "limits": {},
            }
        ],
        "vhosts": [{"name": vhost}],
        "permissions": [
            {"user": user, "vhost": vhost, **permissions(topology.exchange, downstream)}
        ],
        "topic_permissions": [],
        "parameters": [],
        "global_parameters": [],
        # Queue types, dead-lettering and limits are queue arguments, as the router declares
        # them; policies are left to the operator.
        "policies": [],
        "queues": sorted(out.queues.values(), key=lambda q: str(q["name"])),
        "exchanges": sorted(out.exchanges.values(), key=lambda e: str(e["name"])),
        "bindings": out.bindings,
    }


def reference_settings() -> Settings:
    """The settings ``deploy/rabbitmq/definitions.json`` is rendered for: the defaults, with
    every role switched on."""
    return Settings.build(
        sqs={"enabled": True}, pusher={"enabled": True}, websocket={"enabled": True}
    )


def render(found: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n"


def listing(found: dict[str, Any]) -> list[str]:
    """One line per object, for reading in a terminal."""
    import orjson

    lines = [f"exchange {e['name']} ({e['type']})" for e in found["exchanges"]]
    lines += [f"queue {q['name']} {orjson.dumps(q['arguments']).decode()}" for q in found["queues"]]
    lines += [
        f"binding {b['source']} -> {b['destination']} {b['routing_key']}" for b in found["bindings"]
    ]
    return lines
