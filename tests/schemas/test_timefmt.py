import re
from datetime import UTC, datetime

import pytest

from schemas.timefmt import normalize_date_time, utc_now

FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def test_utc_now_format_and_value() -> None:
    value = utc_now()
    assert FORMAT.fullmatch(value)
    parsed = datetime.fromisoformat(value)
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-25T10:30:00.000Z", "2026-11-25T10:30:00.000Z"),
        ("2026-11-25T10:30:00Z", "2026-11-25T10:30:00.000Z"),
        ("2026-11-25T10:30:00.123456Z", "2026-11-25T10:30:00.123Z"),
        ("2026-11-25T10:30:00.9999Z", "2026-11-25T10:30:00.999Z"),
        ("2026-11-25T07:30:00-03:00", "2026-11-25T10:30:00.000Z"),
        ("2026-11-25T12:30:00.5+02:00", "2026-11-25T10:30:00.500Z"),
        ("2026-11-25T23:30:00-03:00", "2026-11-26T02:30:00.000Z"),
        ("2026-11-25T10:30:00", "2026-11-25T10:30:00.000Z"),
        ("2026-11-25 10:30", "2026-11-25T10:30:00.000Z"),
        ("2026-11-25T10:30:00+00:00", "2026-11-25T10:30:00.000Z"),
        ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000Z"),
    ],
)
def test_normalize(value: str, expected: str) -> None:
    assert normalize_date_time(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "is not valid"),
        ("", "is not valid"),
        ("2026-13-01T00:00:00Z", "is not valid"),
        ("1732530600", "is not valid"),
        ("2026-11-25", "has no time of day"),
        ("0001-01-01T00:00:00+01:00", "outside the representable range"),
    ],
)
def test_rejects_with_a_clear_message(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as caught:
        normalize_date_time(value)
    assert repr(value) in str(caught.value)
