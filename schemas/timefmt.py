"""The one timestamp format every envelope carries: UTC, milliseconds, ``Z``."""

import re
from datetime import UTC, date, datetime

# The envelope format itself: such a value needs checking, not rewriting.
_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def _format(moment: datetime) -> str:
    # Built by hand rather than with strftime, which does not zero-pad years below 1000
    # on every platform. Sub-millisecond digits are dropped, never rounded, so a time
    # never moves into the next second.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f".{moment.microsecond // 1000:03d}Z"
    )


def utc_now() -> str:
    """The current time, e.g. ``2026-11-25T10:30:00.000Z``."""
    return _format(datetime.now(UTC))


def format_utc(moment: datetime) -> str:
    """An aware ``moment`` in the envelope format (a naive one is taken as UTC)."""
    return _format(moment if moment.tzinfo is None else moment.astimezone(UTC))


def normalize_date_time(value: str) -> str:
    """The same instant as ``value`` in the envelope format.

    Accepts ISO-8601 date-times with ``Z`` or a UTC offset; a time without either is
    taken as UTC. A bare date is refused: an event time without a time of day is a bug.
    """
    expected = "expected an ISO-8601 date and time such as '2026-11-25T10:30:00.000Z'"
    canonical = _CANONICAL.fullmatch(value) is not None  # has a time of day, and is the format
    if not canonical:
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            raise ValueError(f"date_time {value!r} has no time of day; {expected}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"date_time {value!r} is not valid; {expected}") from None
    if canonical:
        return value
    if moment.tzinfo is None:
        return _format(moment)
    try:
        return _format(moment.astimezone(UTC))
    except OverflowError:
        raise ValueError(f"date_time {value!r} is outside the representable range") from None
