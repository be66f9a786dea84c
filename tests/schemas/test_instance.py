import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@given(name=names)
def test_every_word_is_safe_everywhere(name: str) -> None:
    word = instance_word(name)
    assert re.fullmatch(SAFE_WORD_PATTERN, word)  # a routing-key word, SQS, URL, Pusher
    assert word == instance_word(name)


@given(first=names, second=names)
def test_two_names_never_share_a_word(first: str, second: str) -> None:
    if first != second:
        assert instance_word(first) != instance_word(second)
