"""Event ids: time-ordered, so receivers can de-duplicate and sort by them."""

import hashlib
import os
import re
import threading
import time
import uuid
from typing import Final

_UUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Crockford base32 without I, L, O, U; a leading digit above 7 would overflow 128 bits.
_ULID: Final = r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}"
EVENT_ID_PATTERN: Final = rf"^(?:{_UUID}|{_ULID})$"
_MATCHER: Final = re.compile(EVENT_ID_PATTERN)

_COUNTER_BITS: Final = 12
_COUNTER_LIMIT: Final = 1 << _COUNTER_BITS
_RAND_B_BITS: Final = 62
_VERSION: Final = 7
_VARIANT: Final = 0b10


class _Uuid7Clock:
    """Hands out (unix ms, counter) pairs that strictly increase within the process.

    This is RFC 9562's fixed-length dedicated counter (method 1) in the 12 bits of rand_a.
    The counter starts at a random value below half its range on each new millisecond so
    ids stay unguessable yet leave room to count; when it runs out, or the wall clock steps
    back, the timestamp is carried forward instead, so ordering never breaks.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = -1
        self._counter = 0

    def next(self) -> tuple[int, int]:
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            if now_ms > self._ms:
                self._ms = now_ms
                self._counter = _random_bits(_COUNTER_BITS - 1)
            else:
                self._counter += 1
                if self._counter >= _COUNTER_LIMIT:
                    self._ms += 1
                    self._counter = _random_bits(_COUNTER_BITS - 1)
            return self._ms, self._counter


def _random_bits(bits: int) -> int:
    return int.from_bytes(os.urandom((bits + 7) // 8)) >> (-bits % 8)


_CLOCK: Final = _Uuid7Clock()


def new_event_id() -> str:
    """A new UUIDv7 as the canonical lower-case string, greater than every earlier one."""
    unix_ms, counter = _CLOCK.next()
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= _VERSION << 76
    value |= counter << 64
    value |= _VARIANT << 62
    value |= _random_bits(_RAND_B_BITS)
    digits = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without the object
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def is_event_id(value: str) -> bool:
    """True for any UUID in its hyphenated form or a 26-character ULID."""
    return _MATCHER.fullmatch(value) is not None


_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def event_time_ms(value: str) -> int | None:
    """The creation time (Unix ms) carried by a UUIDv7 or a ULID; None for any other id."""
    if not is_event_id(value):
        return None
    if len(value) == 26:  # ULID: the first 10 characters are the 48-bit time
        ms = 0
        for char in value[:10].upper():
            ms = ms * 32 + _CROCKFORD.index(char)
        return ms
    parsed = uuid.UUID(value)
    return parsed.int >> 80 if parsed.version == _VERSION else None


_DERIVED_VERSION: Final = 8


def derived_event_id(content: bytes | bytearray, unix_ms: int | None) -> str:
    """The id of an event whose producer gives none, derived from its content, so the same
    body sent again is the same event (receivers drop it by id).

    With the event's own time it is laid out as a UUIDv7 (that time, then 74 bits of the
    content's SHA-256), so it sorts with the ids the router assigns; without one it is a
    UUIDv8 of the hash alone.
    """
    digest = int.from_bytes(hashlib.sha256(content).digest()[:16])
    if unix_ms is None or not 0 <= unix_ms < 1 << 48:
        value = digest & ~(0xF << 76) & ~(0b11 << 62)
        value |= _DERIVED_VERSION << 76
    else:
        value = unix_ms << 80
        value |= _VERSION << 76
        value |= (digest & ((1 << 12) - 1)) << 64
        value |= (digest >> 12) & ((1 << _RAND_B_BITS) - 1)
    value |= _VARIANT << 62
    return str(uuid.UUID(int=value))
