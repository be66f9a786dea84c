import pytest

from schemas.catalog import (
    CATALOG,
    WIRE_NAMES,
    EventType,
    UnknownEventError,
    accepted_keys,
    by_wire,
    config_key,
    event_type,
    is_wire_name,
    nearest,
    resolve,
)

# The DESIGN table, typed out once here so the catalog is checked against the contract.
DESIGN_ROWS = [
    ("APPLICATION_STARTUP", "application.startup"),
    ("INSTANCE_CREATE", "instance.create"),
    ("INSTANCE_DELETE", "instance.delete"),
    ("QRCODE_UPDATED", "qrcode.updated"),
    ("CONNECTION_UPDATE", "connection.update"),
    ("STATUS_INSTANCE", "status.instance"),
    ("MESSAGES_SET", "messages.set"),
    ("MESSAGES_UPSERT", "messages.upsert"),
    ("MESSAGES_EDITED", "messages.edited"),
    ("MESSAGES_UPDATE", "messages.update"),
    ("MESSAGES_DELETE", "messages.delete"),
    ("SEND_MESSAGE", "send.message"),
    ("SEND_MESSAGE_UPDATE", "send.message.update"),
    ("CONTACTS_SET", "contacts.set"),
    ("CONTACTS_UPSERT", "contacts.upsert"),
    ("CONTACTS_UPDATE", "contacts.update"),
    ("PRESENCE_UPDATE", "presence.update"),
    ("CHATS_SET", "chats.set"),
    ("CHATS_UPSERT", "chats.upsert"),
    ("CHATS_UPDATE", "chats.update"),
    ("CHATS_DELETE", "chats.delete"),
    ("GROUPS_UPSERT", "groups.upsert"),
    ("GROUPS_UPDATE", "groups.update"),
    ("GROUP_PARTICIPANTS_UPDATE", "group-participants.update"),
    ("LABELS_EDIT", "labels.edit"),
    ("LABELS_ASSOCIATION", "labels.association"),
    ("CALL", "call"),
    ("TYPEBOT_START", "typebot.start"),
    ("TYPEBOT_CHANGE_STATUS", "typebot.change-status"),
    ("REMOVE_INSTANCE", "remove.instance"),
    ("LOGOUT_INSTANCE", "logout.instance"),
    ("MESSAGING_HISTORY_SET", "messaging-history.set"),
    ("NEW_JWT", "new.jwt"),
]

IRREGULAR_CAMEL = {
    "qrcodeUpdate": "QRCODE_UPDATED",
    "stateInstance": "STATUS_INSTANCE",
    "statusInstance": "STATUS_INSTANCE",
    "groupUpdate": "GROUPS_UPDATE",
    "newJwt": "NEW_JWT",
    "newJwtToken": "NEW_JWT",
}


def spellings(event: EventType) -> set[str]:
    names = {
        event.key,
        event.wire,
        event.url_suffix,
        event.sqs_suffix,
        event.camel,
        *event.alias_keys,
    }
    names |= {camel for camel, key in IRREGULAR_CAMEL.items() if key == event.key}
    return names


def test_catalog_matches_design_table_in_order() -> None:
    assert [(event.key, event.wire) for event in CATALOG] == DESIGN_ROWS
    assert len(CATALOG) == 33
    assert tuple(wire for _, wire in DESIGN_ROWS) == WIRE_NAMES


@pytest.mark.parametrize("event", CATALOG, ids=lambda event: event.key)
def test_key_follows_from_wire_name(event: EventType) -> None:
    assert event.key == event.wire.replace(".", "_").replace("-", "_").upper()


@pytest.mark.parametrize("event", CATALOG, ids=lambda event: event.key)
def test_every_spelling_resolves_to_its_row(event: EventType) -> None:
    names = {event.key, event.wire, event.sqs_suffix, event.camel, *event.alias_keys}
    names |= {camel for camel, key in IRREGULAR_CAMEL.items() if key == event.key}
    for name in names:
        assert resolve(name) is event, name
    assert by_wire(event.wire) is event
    assert config_key(event.wire) == event.key


@pytest.mark.parametrize(
    ("wire", "key", "url_suffix", "sqs_suffix", "camel"),
    [
        (
            "group-participants.update",
            "GROUP_PARTICIPANTS_UPDATE",
            "group-participants-update",
            "group_participants_update",
            "groupParticipantsUpdate",
        ),
        (
            "typebot.change-status",
            "TYPEBOT_CHANGE_STATUS",
            "typebot-change-status",
            "typebot_change_status",
            "typebotChangeStatus",
        ),
        (
            "send.message.update",
            "SEND_MESSAGE_UPDATE",
            "send-message-update",
            "send_message_update",
            "sendMessageUpdate",
        ),
        (
            "messaging-history.set",
            "MESSAGING_HISTORY_SET",
            "messaging-history-set",
            "messaging_history_set",
            "messagingHistorySet",
        ),
        ("call", "CALL", "call", "call", "call"),
        ("new.jwt", "NEW_JWT", "new-jwt", "new_jwt", "newJwt"),
        (
            "messages.upsert",
            "MESSAGES_UPSERT",
            "messages-upsert",
            "messages_upsert",
            "messagesUpsert",
        ),
    ],
)
def test_tricky_spellings(
    wire: str, key: str, url_suffix: str, sqs_suffix: str, camel: str
) -> None:
    event = by_wire(wire)
    assert (event.key, event.url_suffix, event.sqs_suffix, event.camel) == (
        key,
        url_suffix,
        sqs_suffix,
        camel,
    )


@pytest.mark.parametrize("name", ["GROUPS_UPDATE", "GROUP_UPDATE", "group_update", "groupUpdate"])
def test_groups_update_aliases(name: str) -> None:
    assert resolve(name).wire == "groups.update"
    assert config_key(name) == "GROUPS_UPDATE"


@pytest.mark.parametrize(
    "name", ["NEW_JWT", "NEW_TOKEN", "NEW_JWT_TOKEN", "new_token", "newJwt", "newJwtToken"]
)
def test_new_jwt_aliases(name: str) -> None:
    assert resolve(name).wire == "new.jwt"
    assert config_key(name) == "NEW_JWT"


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("qrcodeUpdate", "qrcode.updated"),
        ("qrcodeUpdated", "qrcode.updated"),
        ("stateInstance", "status.instance"),
        ("statusInstance", "status.instance"),
        ("messagesUpsert", "messages.upsert"),
        ("messages_upsert", "messages.upsert"),
        ("Messages_Upsert", "messages.upsert"),
    ],
)
def test_codechat_and_case_insensitive_keys(name: str, wire: str) -> None:
    assert resolve(name).wire == wire


@pytest.mark.parametrize("name", ["MESSAGES.UPSERT", "MessagesUpsert", "messagesupsert", ""])
def test_wire_and_camel_spellings_are_case_sensitive(name: str) -> None:
    with pytest.raises(UnknownEventError):
        resolve(name)


def test_no_two_rows_share_a_spelling() -> None:
    seen: dict[str, str] = {}
    for event in CATALOG:
        for name in spellings(event):
            for variant in {name, name.lower(), name.upper()}:
                owner = seen.setdefault(variant, event.key)
                assert owner == event.key, f"{variant!r} is shared by {owner} and {event.key}"


def test_accepted_keys_are_canonical_keys_and_alias_keys() -> None:
    expected = {event.key for event in CATALOG} | {"GROUP_UPDATE", "NEW_TOKEN", "NEW_JWT_TOKEN"}
    assert accepted_keys() == expected


def test_by_wire_is_exact() -> None:
    with pytest.raises(KeyError):
        by_wire("MESSAGES_UPSERT")


def test_unknown_event_suggests_nearest_wire_names() -> None:
    with pytest.raises(UnknownEventError) as caught:
        resolve("mesages.upsert")
    error = caught.value
    assert error.name == "mesages.upsert"
    assert error.suggestions[0] == "messages.upsert"
    assert "messages.update" in error.suggestions
    assert len(error.suggestions) <= 3
    assert set(error.suggestions) <= set(WIRE_NAMES)
    assert str(error).startswith("unknown event 'mesages.upsert'; did you mean: messages.upsert, ")
    assert str(error).endswith("?")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("MESAGES_UPSERT", "messages.upsert"),
        ("groupParticipantUpdate", "group-participants.update"),
        ("typebot.change.status", "typebot.change-status"),
        ("group.update", "groups.update"),
        ("NEW_JWT_TOKENS", "new.jwt"),
    ],
)
def test_suggestions_come_from_any_spelling_and_map_back_to_wire(name: str, first: str) -> None:
    assert nearest(name)[0] == first


def test_nearest_respects_n_and_has_no_duplicates() -> None:
    found = nearest("messages.upsrt", n=5)
    assert len(found) == 5
    assert len(set(found)) == 5
    assert nearest("messages.upsrt", n=1) == ["messages.upsert"]


def test_nothing_close_gives_no_suggestions() -> None:
    with pytest.raises(UnknownEventError, match=r"^unknown event 'zzzz'; it is not in") as caught:
        resolve("zzzz")
    assert caught.value.suggestions == []


@pytest.mark.parametrize(
    ("flag", "wire"),
    [
        ("qrcodeUpdated", "qrcode.updated"),
        ("messagesUpdated", "messages.update"),
        ("chatsDeleted", "chats.delete"),
        ("groupsParticipantsUpdated", "group-participants.update"),
        ("groupParticipantsUpdate", "group-participants.update"),
        ("connectionUpdated", "connection.update"),
        ("callUpsert", "call"),
        ("labelAssociation", "labels.association"),
        ("refreshToken", "new.jwt"),
    ],
)
def test_codechat_release_spellings(flag: str, wire: str) -> None:
    assert resolve(flag).wire == wire


def test_event_type_of_a_name_the_catalog_does_not_know_is_derived_as_evolution_does() -> None:
    assert event_type("messages.upsert") is resolve("messages.upsert")
    row = event_type("creds.update")
    assert (row.key, row.url_suffix, row.sqs_suffix) == (
        "CREDS_UPDATE",
        "creds-update",
        "creds_update",
    )
    assert is_wire_name("typebot.change-status")
    with pytest.raises(UnknownEventError):
        event_type("creds.#")
