import hashlib
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.pusher.adapter import CHANNEL_NAME
from adapters.sqs.naming import evolution_queue_name, queue_name
from schemas.catalog import WIRE_NAMES, event_type
from schemas.envelope import build_envelope
from schemas.instance import (
    INSTANCE_NAME_PATTERN,
    SAFE_WORD_PATTERN,
    InvalidInstanceError,
    instance_word,
    validate_instance,
    word_within,
)

EVOLUTION_NAMES = ["Loja Centro", "joão", "client.one", "user@mail.com", "a" * 255, "#all", "x*"]
PUSHER = re.compile(r"[A-Za-z0-9_\-=@,.;]{1,164}")


@pytest.mark.parametrize(
    "name", ["a", "my-instance", "Inst_01", "A" * 64, "-", "_x-Y9", *EVOLUTION_NAMES]
)
def test_every_name_evolution_accepts_is_valid_and_unchanged(name: str) -> None:
    assert validate_instance(name) == name
    assert re.fullmatch(INSTANCE_NAME_PATTERN, name)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "instance name is empty"),
        ("a" * 256, "instance name is 256 characters long; at most 255"),
        ("line\n", "control character '\\n' at position 4"),
        ("bell\x07", "control character '\\x07' at position 4"),
        ("c1\x85", "control character '\\x85' at position 2"),
    ],
)
def test_names_no_platform_gives_are_refused_with_the_reason(name: str, fragment: str) -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_instance(name)
    assert fragment in str(caught.value)
    assert not re.fullmatch(INSTANCE_NAME_PATTERN, name)


@pytest.mark.parametrize("name", ["a", "my-instance", "Inst_01", "A" * 64, "-", "_x-Y9"])
def test_a_safe_name_is_its_own_word(name: str) -> None:
    assert instance_word(name) == name


def test_other_names_get_a_readable_slug_and_a_hash() -> None:
    word = instance_word("Loja Centro")
    assert re.fullmatch(r"Loja-Centro--[0-9a-f]{16}", word)
    assert re.fullmatch(r"joao--[0-9a-f]{16}", instance_word("joão"))
    assert re.fullmatch(r"client-one--[0-9a-f]{16}", instance_word("client.one"))
    assert re.fullmatch(r"i--[0-9a-f]{16}", instance_word("日本"))
    assert instance_word("Loja Centro") == word  # the same name, the same word, every time
    assert instance_word("Loja  Centro") != word
    assert instance_word("a" * 65) != instance_word("a" * 66)


def test_a_safe_name_shaped_like_a_made_word_is_given_one_of_its_own() -> None:
    made = instance_word("Loja Centro")
    assert instance_word(made) != made
    assert instance_word(made) != instance_word("Loja Centro")


def test_pusher_keeps_names_it_takes_whole() -> None:
    assert word_within("client.one", PUSHER) == "client.one"
    assert word_within("user@mail.com", PUSHER) == "user@mail.com"
    assert word_within("Loja Centro", PUSHER) == instance_word("Loja Centro")


names = st.text(
    st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=255
) | st.text(string.ascii_letters + string.digits + "_-. @", min_size=1, max_size=70)
# Names Pusher takes whole, near its length limit, and some it does not.
pusher_names = st.text(string.ascii_letters + string.digits + "_-=@,.;", min_size=1, max_size=170)


@given(name=names)
def test_every_word_is_safe_everywhere(name: str) -> None:
    word = instance_word(name)
    assert re.fullmatch(SAFE_WORD_PATTERN, word)  # a routing-key word, SQS, URL, Pusher
    assert word == instance_word(name)


@given(first=names, second=names)
def test_two_names_never_share_a_word(first: str, second: str) -> None:
    if first != second:
        assert instance_word(first) != instance_word(second)


# -- every place a name becomes a word (SQS, Pusher and routing keys use these functions) --

safe_names = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
MADE = re.compile(r"(?P<slug>[A-Za-z0-9_-]{1,40})--(?P<hash>[0-9a-f]{16})")


@given(name=safe_names)
def test_a_safe_name_is_its_own_word_unless_it_looks_made(name: str) -> None:
    if re.search(r"--[0-9a-f]{16}$", name):
        assert instance_word(name) != name
    else:
        assert instance_word(name) == name


@given(name=names)
def test_a_made_word_is_a_readable_slug_and_the_names_hash(name: str) -> None:
    word = instance_word(name)
    if word == name:
        return
    made = MADE.fullmatch(word)
    assert made is not None, word
    slug = made["slug"]
    assert not slug.startswith("-")
    assert not slug.endswith("-")
    assert "--" not in slug  # so the first "--" ends the slug, and the hash is read back
    assert made["hash"] == hashlib.sha256(name.encode()).hexdigest()[:16]
    assert len(word) <= 58


@given(name=names | pusher_names)
def test_a_pusher_channel_is_the_name_pusher_takes_or_the_same_word(name: str) -> None:
    channel = word_within(name, CHANNEL_NAME)
    assert CHANNEL_NAME.fullmatch(channel)
    assert channel == word_within(name, CHANNEL_NAME)
    if CHANNEL_NAME.fullmatch(name) and not re.search(r"--[0-9a-f]{16}$", name):
        assert channel == name
    else:
        assert channel == instance_word(name)


@given(first=names | pusher_names, second=names | pusher_names)
def test_two_names_never_share_a_pusher_channel(first: str, second: str) -> None:
    if first != second:
        assert word_within(first, CHANNEL_NAME) != word_within(second, CHANNEL_NAME)


wires = st.sampled_from(WIRE_NAMES) | st.from_regex(
    r"[a-z0-9]{1,10}([.-][a-z0-9]{1,10}){0,3}", fullmatch=True
)
catalogued = st.sampled_from(WIRE_NAMES)


@given(instance=names, event=wires, fifo=st.booleans())
def test_an_sqs_queue_name_is_sqs_safe_and_the_same_every_time(
    instance: str, event: str, fifo: bool
) -> None:
    queue = queue_name(instance, event, fifo=fifo)
    assert queue == queue_name(instance, event, fifo=fifo)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,75}\.fifo" if fifo else r"[A-Za-z0-9_-]{1,80}", queue)
    evolution = evolution_queue_name(instance, event)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,75}\.fifo", evolution)


@given(first=st.tuples(names, wires), second=st.tuples(names, wires))
def test_two_instances_or_events_never_share_an_sqs_queue(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    # Two wire names of one config key (``a.b``, ``a-b``) are one event to every channel.
    if (first[0], event_type(first[1]).key) != (second[0], event_type(second[1]).key):
        assert queue_name(*first) != queue_name(*second)
    if first[1] in WIRE_NAMES and second[1] in WIRE_NAMES and first != second:
        # Evolution's own scheme, kept for its consumers, is collision-free for the catalog.
        assert evolution_queue_name(*first) != evolution_queue_name(*second)


@given(instance=names, event=catalogued)
def test_a_routing_key_is_the_word_then_the_wire_name(instance: str, event: str) -> None:
    key = build_envelope(instance, event, None).routing_key
    word, _, rest = key.partition(".")
    assert word == instance_word(instance)
    assert rest == event
    assert not set(word) & {".", "*", "#"}
    if re.fullmatch(SAFE_WORD_PATTERN, instance) and "--" not in instance:
        assert key == f"{instance}.{event}"
