"""The event catalog: one row per event, every other spelling derived from the row.

Channels spell events differently (routing keys use the wire name, env vars the config key,
webhook URLs a dashed suffix, SQS queues an underscored suffix, CodeChat camelCase flags).
Deriving them all from one table keeps them from drifting apart, which is how Evolution API
ended up with events that match no config key or no SQS queue.
"""

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class EventType:
    """One catalog row: the config key, the wire name and any extra accepted config keys."""

    key: str
    wire: str
    alias_keys: tuple[str, ...] = ()

    @property
    def url_suffix(self) -> str:
        """Suffix appended to a by-events webhook URL (``messages-upsert``)."""
        return self.key.lower().replace("_", "-")

    @property
    def sqs_suffix(self) -> str:
        """Event part of an SQS queue name (``messages_upsert``)."""
        return self.key.lower()

    @property
    def camel(self) -> str:
        """CodeChat's camelCase spelling (``messagesUpsert``)."""
        return _camel(self.key)


def _camel(key: str) -> str:
    first, *rest = key.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


CATALOG: tuple[EventType, ...] = (
    EventType("APPLICATION_STARTUP", "application.startup"),
    EventType("INSTANCE_CREATE", "instance.create"),
    EventType("INSTANCE_DELETE", "instance.delete"),
    EventType("QRCODE_UPDATED", "qrcode.updated"),
    EventType("CONNECTION_UPDATE", "connection.update"),
    EventType("STATUS_INSTANCE", "status.instance"),
    EventType("MESSAGES_SET", "messages.set"),
    EventType("MESSAGES_UPSERT", "messages.upsert"),
    EventType("MESSAGES_EDITED", "messages.edited"),
    EventType("MESSAGES_UPDATE", "messages.update"),
    EventType("MESSAGES_DELETE", "messages.delete"),
    EventType("SEND_MESSAGE", "send.message"),
    EventType("SEND_MESSAGE_UPDATE", "send.message.update"),
    EventType("CONTACTS_SET", "contacts.set"),
    EventType("CONTACTS_UPSERT", "contacts.upsert"),
    EventType("CONTACTS_UPDATE", "contacts.update"),
    EventType("PRESENCE_UPDATE", "presence.update"),
    EventType("CHATS_SET", "chats.set"),
    EventType("CHATS_UPSERT", "chats.upsert"),
    EventType("CHATS_UPDATE", "chats.update"),
    EventType("CHATS_DELETE", "chats.delete"),
    EventType("GROUPS_UPSERT", "groups.upsert"),
    # Evolution's own config spells this one GROUP_UPDATE, so both keys must work.
    EventType("GROUPS_UPDATE", "groups.update", ("GROUP_UPDATE",)),
    EventType("GROUP_PARTICIPANTS_UPDATE", "group-participants.update"),
    EventType("LABELS_EDIT", "labels.edit"),
    EventType("LABELS_ASSOCIATION", "labels.association"),
    EventType("CALL", "call"),
    EventType("TYPEBOT_START", "typebot.start"),
    EventType("TYPEBOT_CHANGE_STATUS", "typebot.change-status"),
    EventType("REMOVE_INSTANCE", "remove.instance"),
    EventType("LOGOUT_INSTANCE", "logout.instance"),
    EventType("MESSAGING_HISTORY_SET", "messaging-history.set"),
    # Older Evolution releases named the token event NEW_TOKEN / NEW_JWT_TOKEN.
    EventType("NEW_JWT", "new.jwt", ("NEW_TOKEN", "NEW_JWT_TOKEN")),
)

WIRE_NAMES: tuple[str, ...] = tuple(event.wire for event in CATALOG)

# What a wire name looks like, catalogued or not: lower-case words joined by dots or dashes.
# A newer Evolution emits events this catalog does not know yet; they are routed under a name
# of this form (their words become routing-key words, so no '*' or '#').
WIRE_NAME_MAX_LENGTH = 64
WIRE_NAME_PATTERN = rf"^(?=.{{1,{WIRE_NAME_MAX_LENGTH}}}$)[a-z0-9]+(?:[.-][a-z0-9]+)*$"
_WIRE_NAME = re.compile(WIRE_NAME_PATTERN)

# CodeChat flags whose names do not follow from the config key; every other camelCase
# spelling is derived by EventType.camel. CodeChat's releases disagree on past-tense and
# singular forms (``messagesUpdated`` / ``messagesUpdate``), so both are accepted.
_CODECHAT_IRREGULAR: Mapping[str, str] = MappingProxyType(
    {
        "qrcodeUpdate": "QRCODE_UPDATED",
        "stateInstance": "STATUS_INSTANCE",
        "messagesUpdated": "MESSAGES_UPDATE",
        "contactsUpdated": "CONTACTS_UPDATE",
        "chatsUpdated": "CHATS_UPDATE",
        "chatsDeleted": "CHATS_DELETE",
        "presenceUpdated": "PRESENCE_UPDATE",
        "connectionUpdated": "CONNECTION_UPDATE",
        "groupUpdate": "GROUPS_UPDATE",
        "groupsUpdated": "GROUPS_UPDATE",
        "groupsParticipantsUpdated": "GROUP_PARTICIPANTS_UPDATE",
        "labelEdit": "LABELS_EDIT",
        "labelAssociation": "LABELS_ASSOCIATION",
        "callUpsert": "CALL",
        "newJwtToken": "NEW_JWT",
        "refreshToken": "NEW_JWT",
    }
)


class UnknownEventError(ValueError):
    """An event name outside the catalog; carries the nearest wire names as suggestions."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.suggestions = nearest(name)
        message = f"unknown event {name!r}"
        if self.suggestions:
            message += f"; did you mean: {', '.join(self.suggestions)}?"
        else:
            message += "; it is not in the event catalog"
        super().__init__(message)


def _index(pairs: Iterator[tuple[str, EventType]]) -> Mapping[str, EventType]:
    # A spelling shared by two rows would route events to the wrong place silently,
    # so an edit to the table that causes one fails at import time.
    index: dict[str, EventType] = {}
    for spelling, event in pairs:
        other = index.setdefault(spelling, event)
        if other is not event:
            raise RuntimeError(
                f"catalog spelling {spelling!r} is used by {other.key} and {event.key}"
            )
    return MappingProxyType(index)


def _key_pairs() -> Iterator[tuple[str, EventType]]:
    for event in CATALOG:
        for key in (event.key, *event.alias_keys):
            yield key, event


def _exact_pairs() -> Iterator[tuple[str, EventType]]:
    by_key = {event.key: event for event in CATALOG}
    for event in CATALOG:
        yield event.wire, event
        yield event.camel, event
    for camel, key in _CODECHAT_IRREGULAR.items():
        yield camel, by_key[key]


def _all_spellings() -> Iterator[tuple[str, EventType]]:
    yield from _key_pairs()
    yield from _exact_pairs()
    for event in CATALOG:
        yield event.url_suffix, event
        yield event.sqs_suffix, event


_BY_WIRE: Mapping[str, EventType] = MappingProxyType({event.wire: event for event in CATALOG})
_BY_KEY = _index(_key_pairs())
_BY_EXACT = _index(_exact_pairs())
# Suggestions compare case-folded, so a mistyped config key is as close to its row as a
# mistyped wire name.
_FOR_SUGGESTIONS: Mapping[str, str] = MappingProxyType(
    {spelling.lower(): event.wire for spelling, event in _all_spellings()}
)


def by_wire(wire: str) -> EventType:
    """The row for an exact wire name; ``KeyError`` if there is none."""
    return _BY_WIRE[wire]


def is_wire_name(name: str) -> bool:
    """True for a name of the wire form, in the catalog or not (``creds.update``)."""
    return _WIRE_NAME.fullmatch(name) is not None


def event_type(wire: str) -> EventType:
    """The catalog row of a wire name; for one the catalog does not know, a row derived the
    way Evolution derives its spellings (``creds.update``: ``CREDS_UPDATE``,
    ``creds-update``). ``UnknownEventError`` for a name not of the wire form."""
    row = _BY_WIRE.get(wire)
    if row is not None:
        return row
    if not is_wire_name(wire):
        raise UnknownEventError(wire)
    return EventType(wire.replace(".", "_").replace("-", "_").upper(), wire)


def resolve(name: str) -> EventType:
    """The row for any accepted spelling: wire name, config key, alias key or camelCase.

    Config keys (canonical and alias) match case-insensitively; wire names and camelCase
    match exactly. Raises ``UnknownEventError`` with suggestions otherwise.
    """
    event = _BY_EXACT.get(name) or _BY_KEY.get(name.upper())
    if event is None:
        raise UnknownEventError(name)
    return event


def config_key(name: str) -> str:
    """The canonical config key for any accepted spelling (alias keys map to it)."""
    return resolve(name).key


def accepted_keys() -> frozenset[str]:
    """Every config-key spelling accepted as a ``*_EVENTS_<KEY>`` suffix."""
    return frozenset(_BY_KEY)


def nearest(name: str, n: int = 3) -> list[str]:
    """Up to ``n`` wire names whose spellings come closest to ``name``, best first."""
    matches = difflib.get_close_matches(name.lower(), _FOR_SUGGESTIONS, n=len(_FOR_SUGGESTIONS))
    wires: list[str] = []
    for match in matches:
        wire = _FOR_SUGGESTIONS[match]
        if wire not in wires:
            wires.append(wire)
    return wires[:n]
