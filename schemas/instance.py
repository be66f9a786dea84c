"""Instance names, and the one word each becomes where a name cannot be used as it is.

Evolution accepts any name of 1 to 255 characters (``Loja Centro``, ``joão``, ``client.one``,
``user@mail.com``); the envelope, the configuration and the WebSocket paths carry it unchanged.
A routing-key word (no ``.``, ``*`` or ``#``), an SQS queue name (``[A-Za-z0-9_-]``), a Pusher
channel and a URL path segment cannot, so each of those uses :func:`instance_word`:

- a name that is already safe, ``[A-Za-z0-9_-]{1,64}``, is its own word, so nothing changes for
  deployments whose names were (a Pusher channel also keeps a name Pusher takes as it is, such
  as ``client.one`` or ``user@mail.com``);
- any other name becomes ``<slug>--<hash>``: its letters folded to ASCII with every other run
  of characters made one ``-`` (at most 40 characters; ``i`` when nothing is left), then the
  first 16 hex digits of the SHA-256 of its UTF-8 bytes. ``Loja Centro`` is
  ``Loja-Centro--`` followed by its hash.

Two names never share a word: a safe name is kept as it is only when it does not end in
``--`` and 16 hex digits (such a name is itself given its slug and hash), so the kept and the
made words cannot meet, and two made words meet only if SHA-256 collides in 64 bits.
"""

import hashlib
import re
import unicodedata
from typing import Final

INSTANCE_NAME_MAX_LENGTH: Final = 255
# Any characters but control characters (JSON Schema form: the patterns are ECMA-262).
INSTANCE_NAME_PATTERN: Final = rf"^[^\u0000-\u001f\u007f-\u009f]{{1,{INSTANCE_NAME_MAX_LENGTH}}}$"
SAFE_WORD_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"

_SAFE: Final = re.compile(SAFE_WORD_PATTERN)
# Control characters (Cc) and surrogates (Cs): the one regular expression checks every name on
# the hot path; the loop below only says what is wrong with a refused one.
_VALID: Final = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,255}")
_MADE: Final = re.compile(r"--[0-9a-f]{16}$")
_NOT_SLUG: Final = re.compile(r"[^A-Za-z0-9_]+")
SLUG_MAX_LENGTH: Final = 40
HASH_HEX_DIGITS: Final = 16


class InvalidInstanceError(ValueError):
    """An instance name no platform could have given: empty, too long, or with a control
    character."""


def validate_instance(name: str) -> str:
    """Return ``name`` unchanged if it is a valid instance name, else raise with the reason."""
    if _VALID.fullmatch(name):
        return name
    if not name:
        raise InvalidInstanceError("instance name is empty; give 1 to 255 characters")
    if len(name) > INSTANCE_NAME_MAX_LENGTH:
        raise InvalidInstanceError(
            f"instance name is {len(name)} characters long; "
            f"at most {INSTANCE_NAME_MAX_LENGTH} are allowed"
        )
    for position, character in enumerate(name):
        if unicodedata.category(character) in ("Cc", "Cs"):
            raise InvalidInstanceError(
                f"instance name {name!r} is not allowed: control character {character!r} "
                f"at position {position}"
            )
    return name


def instance_word(name: str) -> str:
    """The word ``name`` is known by in routing keys, SQS queue names and URL paths."""
    return word_within(name, _SAFE)


def word_within(name: str, allowed: re.Pattern[str]) -> str:
    """``name`` itself where ``allowed`` takes it whole, else its made word. A place with a
    wider alphabet (Pusher channels take ``.``, ``@``, ...) keeps more names as they are; the
    made words are the same everywhere."""
    if allowed.fullmatch(name) and _MADE.search(name) is None:
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", folded).strip("-")[:SLUG_MAX_LENGTH].rstrip("-") or "i"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{slug}--{digest[:HASH_HEX_DIGITS]}"
