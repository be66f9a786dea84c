"""The roles a router process can run: one table, every list of roles derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    # How events reach it: published by it (a way in), from a work queue of its own, or
    # read from a stream every process of the role reads whole.
    source: Literal["way in", "work queue", "stream"]
    serves_http: bool  # has routes of its own beyond health and metrics


ROLES: Final = (
    Role("ingest", "way in", serves_http=True),
    Role("bridge", "way in", serves_http=False),
    Role("webhook", "work queue", serves_http=False),
    Role("sqs", "work queue", serves_http=False),
    Role("pusher", "work queue", serves_http=False),
    Role("websocket", "stream", serves_http=True),
)
NAMES: Final = tuple(role.name for role in ROLES)
# The roles that deliver to destinations, found as adapters (``router.adapters`` entry points).
ADAPTER_ROLES: Final = tuple(role.name for role in ROLES if role.source != "way in")
QUEUE_ROLES: Final = tuple(role.name for role in ROLES if role.source == "work queue")


def role_of(adapter_name: str) -> str:
    """The role an adapter runs in: a role's extra adapters are named ``<role>-<what>``
    (``webhook-errors``)."""
    return adapter_name.split("-", 1)[0]
