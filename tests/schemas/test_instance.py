import re

import pytest

from schemas.instance import INSTANCE_NAME_PATTERN, InvalidInstanceError, validate_instance


@pytest.mark.parametrize("name", ["a", "my-instance", "Inst_01", "A" * 64, "-", "_x-Y9"])
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_instance(name) == name
    assert re.fullmatch(INSTANCE_NAME_PATTERN, name)


@pytest.mark.parametrize(
    ("name", "character", "position"),
    [
        ("my.inst", "'.'", 2),
        ("a*", "'*'", 1),
        ("#all", "'#'", 0),
        ("with space", "' '", 4),
        ("café", "'é'", 3),
        ("line\n", "'\\n'", 4),
        ("x/y", "'/'", 1),
    ],
)
def test_bad_character_is_named_with_its_position(name: str, character: str, position: int) -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_instance(name)
    message = str(caught.value)
    assert f"character {character} at position {position}" in message
    assert message.startswith(f"instance name {name!r} is not allowed: ")
    assert message.endswith("use letters, digits, '_' and '-' (1 to 64)")
    assert not re.fullmatch(INSTANCE_NAME_PATTERN, name)


def test_exact_message_for_a_dot() -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_instance("my.inst")
    assert str(caught.value) == (
        "instance name 'my.inst' is not allowed: character '.' at position 2; "
        "use letters, digits, '_' and '-' (1 to 64)"
    )


def test_empty_name() -> None:
    with pytest.raises(InvalidInstanceError, match=r"^instance name is empty"):
        validate_instance("")


def test_too_long_name() -> None:
    with pytest.raises(
        InvalidInstanceError, match=r"^instance name is 65 characters long; at most 64"
    ):
        validate_instance("a" * 65)


def test_is_a_value_error() -> None:
    assert issubclass(InvalidInstanceError, ValueError)
