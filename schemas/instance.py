"""Instance names: they become the first word of a routing key and part of queue names."""

import re
import string
from typing import Final

INSTANCE_NAME_MAX_LENGTH: Final = 64
INSTANCE_NAME_PATTERN: Final = rf"^[A-Za-z0-9_-]{{1,{INSTANCE_NAME_MAX_LENGTH}}}$"

# A '.' would split the routing key, '*' and '#' would act as wildcards in bindings, and
# anything outside ASCII breaks SQS queue names; hence the narrow set.
_ALLOWED: Final = frozenset(string.ascii_letters + string.digits + "_-")
_HINT: Final = f"use letters, digits, '_' and '-' (1 to {INSTANCE_NAME_MAX_LENGTH})"
_MATCHER: Final = re.compile(INSTANCE_NAME_PATTERN)


class InvalidInstanceError(ValueError):
    """An instance name that cannot be used as a routing-key word."""


def validate_instance(name: str) -> str:
    """Return ``name`` unchanged if it is a valid instance name, else raise with the reason."""
    if _MATCHER.fullmatch(name):
        return name
    if not name:
        raise InvalidInstanceError(f"instance name is empty; {_HINT}")
    for position, character in enumerate(name):
        if character not in _ALLOWED:
            raise InvalidInstanceError(
                f"instance name {name!r} is not allowed: character {character!r} "
                f"at position {position}; {_HINT}"
            )
    raise InvalidInstanceError(
        f"instance name is {len(name)} characters long; "
        f"at most {INSTANCE_NAME_MAX_LENGTH} are allowed"
    )
