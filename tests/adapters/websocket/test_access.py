"""Which peers skip the token, and where a resume starts reading."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.websocket.access import parse_allowed_hosts, peer_allowed
from adapters.websocket.stream import SEEK_MARGIN_SECONDS, seek_for
from schemas import new_event_id
from schemas.ids import event_time_ms


def test_allowed_hosts() -> None:
    assert parse_allowed_hosts("*") is None
    assert peer_allowed("203.0.113.9", None)
    allowed = parse_allowed_hosts(" 127.0.0.1, ::1 ,10.0.0.7")
    assert allowed == frozenset({"127.0.0.1", "::1", "10.0.0.7"})
    assert peer_allowed("127.0.0.1", allowed)
    assert peer_allowed("::ffff:127.0.0.1", allowed)  # IPv4 seen through an IPv6 socket
    assert peer_allowed("0:0:0:0:0:0:0:1", allowed)
    assert not peer_allowed("127.0.0.2", allowed)
    assert not peer_allowed(None, allowed)
    assert not peer_allowed("127.0.0.1", parse_allowed_hosts(""))


def test_event_time_of_ids() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    made = event_time_ms(new_event_id())
    assert made is not None
    assert before <= made <= before + 1000
    assert event_time_ms("01ARYZ6S41TSV4RRFFQ69G5FAV") == 1469918176385  # a ULID's time
    assert event_time_ms("2f1e8a4e-5c1d-4b7a-9f4e-2b1d8c1e5a10") is None  # v4: no time
    assert event_time_ms("not-an-id") is None


def test_where_a_resume_starts() -> None:
    seen = new_event_id()
    assert seek_for(seen, {seen: 41}) == 41
    other = new_event_id()
    start = seek_for(other, {seen: 41})
    assert isinstance(start, datetime)
    made = event_time_ms(other)
    assert made is not None
    assert abs(start.timestamp() - (made / 1000 - SEEK_MARGIN_SECONDS)) < 0.01
    assert seek_for("2f1e8a4e-5c1d-4b7a-9f4e-2b1d8c1e5a10", {}) == "first"
