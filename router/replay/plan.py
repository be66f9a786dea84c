"""What a replay asks for, read from a request and checked before anything is read or sent:
a time range of the archive, the events in it that are wanted, and where they go again.

Pure: every refusal is decided here, so a refused replay never starts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from schemas import UnknownEventError, is_event_id, resolve, validate_instance
from schemas.ids import event_time_ms

MAX_EVENT_IDS: Final = 10_000
# Around ids that carry their creation time, when no range is given: an id is made shortly
# before its event is archived, on a clock that may be a little off the broker's.
ID_MARGIN: Final = timedelta(minutes=5)
WEBHOOK_LABEL: Final = "webhook:"


class PlanRefused(ValueError):
    """A replay request that cannot be carried out as asked; nothing was started."""


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    since: datetime
    until: datetime
    instance: str | None = None
    events: frozenset[str] | None = None  # wire names; None: every event
    event_ids: frozenset[str] | None = None
    to: str | None = None  # None: every destination that wants the event

    @classmethod
    def to_webhook(cls, instance: str, label: str, since: datetime) -> ReplayPlan:
        """Everything from ``since`` until now, for one per-instance webhook alone."""
        return cls(
            since=since, until=datetime.now(UTC), instance=instance, to=f"{WEBHOOK_LABEL}{label}"
        )

    @property
    def label(self) -> str | None:
        """The one per-instance webhook asked for (``to: "webhook:<label>"``)."""
        if self.to is not None and self.to.startswith(WEBHOOK_LABEL):
            return self.to[len(WEBHOOK_LABEL) :]
        return None

    def wants(self, instance: str, event: str, event_id: str, at: datetime) -> bool:
        """Whether an archived event is one this replay sends again."""
        return (
            self.since.replace(microsecond=0) <= at <= self.until
            and (self.instance is None or instance == self.instance)
            and (self.events is None or event in self.events)
            and (self.event_ids is None or event_id in self.event_ids)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": stamp(self.since),
            "until": stamp(self.until),
            "instance": self.instance,
            "events": None if self.events is None else sorted(self.events),
            "event_ids": None if self.event_ids is None else sorted(self.event_ids),
            "to": self.to,
        }


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object, field: str) -> datetime:
    """ISO-8601; a time without an offset is UTC."""
    if not isinstance(value, str):
        raise PlanRefused(f"'{field}' must be an ISO-8601 time, e.g. 2026-12-01T10:00:00Z")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PlanRefused(
            f"'{field}' is not an ISO-8601 time: {value!r} (e.g. 2026-12-01T10:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _strings(body: Mapping[str, Any], field: str) -> list[str] | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise PlanRefused(f"'{field}' must be a non-empty list of strings")
    return value


def _events(names: list[str] | None) -> frozenset[str] | None:
    if names is None:
        return None
    wires = set()
    for name in names:
        try:
            wires.add(resolve(name).wire)
        except UnknownEventError as exc:
            hint = f"; did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
            raise PlanRefused(f"'events': {name!r} is not an event of the catalog{hint}") from None
    return frozenset(wires)


def _event_ids(ids: list[str] | None) -> frozenset[str] | None:
    if ids is None:
        return None
    if len(ids) > MAX_EVENT_IDS:
        raise PlanRefused(f"'event_ids' holds {len(ids)} ids; at most {MAX_EVENT_IDS}")
    bad = [i for i in ids if not is_event_id(i)]
    if bad:
        raise PlanRefused(f"'event_ids': {bad[0]!r} is not an event id")
    return frozenset(ids)


def _range_of_ids(ids: frozenset[str]) -> tuple[datetime, datetime] | None:
    """The times the ids were made, widened by ``ID_MARGIN``; None if one carries no time."""
    times = [event_time_ms(i) for i in ids]
    known = [t for t in times if t is not None]
    if len(known) != len(times):
        return None
    first = datetime.fromtimestamp(min(known) / 1000, UTC) - ID_MARGIN
    last = datetime.fromtimestamp(max(known) / 1000, UTC) + ID_MARGIN
    return first, last


def _destination(value: object, choices: Collection[str], labels: Collection[str]) -> str | None:
    if value is None:
        return None
    offered = [*sorted(choices), f"{WEBHOOK_LABEL}<label>"]
    if not isinstance(value, str):
        raise PlanRefused(f"'to' must be one of {', '.join(offered)}")
    if value.startswith(WEBHOOK_LABEL):
        label = value[len(WEBHOOK_LABEL) :]
        if label not in labels:
            known = ", ".join(sorted(labels)) or "none"
            raise PlanRefused(
                f"'to': no per-instance webhook is labelled {label!r} (labels: {known})"
            )
        return value
    if value not in choices:
        raise PlanRefused(f"'to': {value!r} is not a destination here; one of {', '.join(offered)}")
    return value


def parse_plan(
    body: object,
    *,
    now: datetime,
    choices: Collection[str],
    labels: Collection[str],
) -> ReplayPlan:
    """The plan of a request body. ``choices`` are the destinations ``to`` may name (the
    adapter roles and ``amqp`` that are configured), ``labels`` the per-instance webhook
    labels (of the instance asked for, when one is)."""
    if not isinstance(body, dict):
        raise PlanRefused("the body must be a JSON object: {since, until, instance, events, ...}")
    unknown = sorted(set(body) - {"since", "until", "instance", "events", "event_ids", "to"})
    if unknown:
        raise PlanRefused(
            f"unknown field {unknown[0]!r}; fields: since, until, instance, events, event_ids, to"
        )
    event_ids = _event_ids(_strings(body, "event_ids"))
    since = None if body.get("since") is None else parse_time(body["since"], "since")
    until = now if body.get("until") is None else parse_time(body["until"], "until")
    if since is None:
        ranged = None if event_ids is None else _range_of_ids(event_ids)
        if ranged is None:
            raise PlanRefused(
                "'since' is required (ISO-8601), unless every one of 'event_ids' carries its "
                "time (UUIDv7)"
            )
        since = ranged[0]
        if body.get("until") is None:
            until = min(ranged[1], now)
    if since > now:
        raise PlanRefused(f"'since' ({stamp(since)}) is in the future")
    if until < since:
        raise PlanRefused(f"'until' ({stamp(until)}) is before 'since' ({stamp(since)})")
    instance = body.get("instance")
    if instance is not None:
        if not isinstance(instance, str):
            raise PlanRefused("'instance' must be a string")
        try:
            validate_instance(instance)
        except ValueError as exc:
            raise PlanRefused(f"'instance': {exc}") from None
    return ReplayPlan(
        since=since,
        until=until,
        instance=instance,
        events=_events(_strings(body, "events")),
        event_ids=event_ids,
        to=_destination(body.get("to"), choices, labels),
    )
