"""The catalog under Hypothesis: every spelling of every row, in any case a config key may be
written in, resolves to that row and to no other; any other text is an ``UnknownEventError``
with suggestions from the catalog, never another exception; and every derived spelling
follows from the row as the table says."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import (
    _CODECHAT_IRREGULAR,
    CATALOG,
    WIRE_NAME_MAX_LENGTH,
    WIRE_NAMES,
    EventType,
    UnknownEventError,
    accepted_keys,
    config_key,
    event_type,
    is_wire_name,
    nearest,
    resolve,
)

rows = st.sampled_from(CATALOG)


def exact_spellings(event: EventType) -> set[str]:
    """Spellings matched as written: the wire name, camelCase, CodeChat's own flags."""
    irregular = {flag for flag, key in _CODECHAT_IRREGULAR.items() if key == event.key}
    return {event.wire, event.camel, *irregular}


def key_spellings(event: EventType) -> set[str]:
    """Spellings matched in any case: the config key, its aliases, and so the SQS suffix
    (the key lower-cased)."""
    return {event.key, *event.alias_keys, event.sqs_suffix}


@st.composite
def any_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips, strict=True))


@st.composite
def spelling_of(draw: st.DrawFn) -> tuple[EventType, str]:
    event = draw(rows)
    if draw(st.booleans()):
        return event, draw(st.sampled_from(sorted(exact_spellings(event))))
    return event, draw(any_case(draw(st.sampled_from(sorted(key_spellings(event))))))


@given(spelled=spelling_of())
def test_every_spelling_resolves_to_its_own_row(spelled: tuple[EventType, str]) -> None:
    event, name = spelled
    assert resolve(name) is event
    assert config_key(name) == event.key
    assert event_type(event.wire) is event


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """A spelling with one character added, dropped or changed: the typos suggestions are for."""
    _, name = draw(spelling_of())
    at = draw(st.integers(0, len(name)))
    other = draw(st.characters(codec="ascii", exclude_categories=["Cc"]))
    edit = draw(st.sampled_from(["add", "drop", "change"]))
    if edit == "add":
        return name[:at] + other + name[at:]
    if edit == "drop" or at == len(name):
        return name[:at] + name[at + 1 :]
    return name[:at] + other + name[at + 1 :]


texts = (
    st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates too
    | st.text(string.ascii_letters + "._-", max_size=40)
    | near_misses()
)


def resolved(name: str) -> EventType | UnknownEventError:
    """What ``resolve`` gives or raises; anything else it raises fails the test."""
    try:
        return resolve(name)
    except UnknownEventError as exc:
        return exc


def spells(name: str, event: EventType) -> bool:
    return name in exact_spellings(event) or name.upper() in {
        key.upper() for key in key_spellings(event)
    }


@given(name=texts)
@settings(max_examples=300)
def test_any_text_resolves_to_a_row_it_spells_or_is_unknown_with_catalog_suggestions(
    name: str,
) -> None:
    found = resolved(name)
    if isinstance(found, EventType):
        assert spells(name, found)  # nothing resolves that is not one of the row's spellings
        return
    assert found.name == name
    assert len(found.suggestions) <= 3
    assert len(set(found.suggestions)) == len(found.suggestions)
    assert set(found.suggestions) <= set(WIRE_NAMES)
    assert found.suggestions == nearest(name)
    assert repr(name) in str(found)
    assert not any(spells(name, event) for event in CATALOG)


@given(name=near_misses())
def test_a_typo_of_a_spelling_is_suggested_something_when_it_is_unknown(name: str) -> None:
    found = resolved(name)
    if isinstance(found, UnknownEventError) and len(name) >= 4:
        # One edit away from a spelling of four or more letters is close enough for difflib.
        assert found.suggestions, name


words = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
wire_names = st.builds(
    lambda first, rest: first + "".join(sep + word for sep, word in rest),
    words,
    st.lists(st.tuples(st.sampled_from(".-"), words), max_size=4),
).filter(lambda name: len(name) <= WIRE_NAME_MAX_LENGTH)


@given(wire=wire_names | st.sampled_from(WIRE_NAMES))
def test_spellings_derive_from_the_wire_name_as_the_table_says(wire: str) -> None:
    assert is_wire_name(wire)
    event = event_type(wire)
    assert event.wire == wire
    assert event.key == wire.replace(".", "_").replace("-", "_").upper()
    assert event.url_suffix == event.key.lower().replace("_", "-")
    assert event.sqs_suffix == event.key.lower()
    assert "_" not in event.camel
    assert event.camel.lower() == event.key.replace("_", "").lower()
    if wire in WIRE_NAMES:
        assert resolve(wire) is event
        assert event.key in accepted_keys()
        # A by-events suffix reads back as its key.
        assert resolve(event.url_suffix.replace("-", "_")) is event


@given(name=st.text(max_size=80))
def test_event_type_is_a_row_or_unknown_never_another_error(name: str) -> None:
    try:
        event = event_type(name)
    except UnknownEventError:
        assert not is_wire_name(name)
        return
    assert event.wire == name
    assert is_wire_name(name)


def test_suffixes_and_keys_name_one_row_each() -> None:
    for spelling in ("url_suffix", "sqs_suffix", "camel", "key", "wire"):
        assert len({getattr(event, spelling) for event in CATALOG}) == len(CATALOG)
    keys = [k for e in CATALOG for k in (e.key, *e.alias_keys)]
    assert len(keys) == len(set(keys)) == len(accepted_keys())
