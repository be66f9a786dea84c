import itertools
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.ids import derived_event_id, event_time_ms, is_event_id, new_event_id


def test_version_and_variant() -> None:
    value = new_event_id()
    parsed = uuid.UUID(value)
    assert value[14] == "7"
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert (parsed.int >> 62) & 0b11 == 0b10


def test_canonical_lower_case_form() -> None:
    value = new_event_id()
    assert value == str(uuid.UUID(value))
    assert value == value.lower()
    assert len(value) == 36


def test_timestamp_is_now() -> None:
    before_ms = time.time() * 1000
    unix_ms = uuid.UUID(new_event_id()).int >> 80
    after_ms = time.time() * 1000
    assert before_ms - 1000 <= unix_ms <= after_ms + 1000


def test_ten_thousand_ids_strictly_increase() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    as_ints = [uuid.UUID(value).int for value in ids]
    assert all(a < b for a, b in itertools.pairwise(as_ints))


def test_ids_stay_unique_and_ordered_when_the_clock_stands_still(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen_ns = time.time_ns()
    monkeypatch.setattr(time, "time_ns", lambda: frozen_ns)
    ids = [new_event_id() for _ in range(5_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # More ids than the 12-bit counter holds: the timestamp is carried forward a little.
    first_ms = uuid.UUID(ids[0]).int >> 80
    last_ms = uuid.UUID(ids[-1]).int >> 80
    assert first_ms < last_ms <= first_ms + 5


def test_ids_keep_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_event_id()
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000)
    assert new_event_id() > first


@pytest.mark.parametrize(
    "value",
    [
        "0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10",
        "0193B0C2-7C1E-7A4E-9F4E-2B1D8C1E5A10",
        str(uuid.uuid4()),
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "01arz3ndektsv4rrffq69g5fav",
    ],
)
def test_accepts_uuids_and_ulids(value: str) -> None:
    assert is_event_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not-an-id",
        "0193b0c27c1e7a4e9f4e2b1d8c1e5a10",
        "0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a1",
        "0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10\n",
        "{0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10}",
        "01ARZ3NDEKTSV4RRFFQ69G5FA",
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",
    ],
)
def test_rejects_other_strings(value: str) -> None:
    assert not is_event_id(value)


@given(content=st.binary(max_size=256), unix_ms=st.integers(0, (1 << 48) - 1))
def test_derived_id_is_a_uuid7_of_the_event_time_and_the_content(
    content: bytes, unix_ms: int
) -> None:
    value = derived_event_id(content, unix_ms)
    assert value == derived_event_id(content, unix_ms)
    assert is_event_id(value)
    parsed = uuid.UUID(value)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert event_time_ms(value) == unix_ms
    assert derived_event_id(content + b" ", unix_ms) != value


@given(content=st.binary(max_size=256))
def test_derived_id_without_a_time_is_a_uuid8_of_the_content(content: bytes) -> None:
    value = derived_event_id(content, None)
    assert value == derived_event_id(content, None) == derived_event_id(content, -1)
    parsed = uuid.UUID(value)
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
    assert is_event_id(value)
    assert event_time_ms(value) is None
