"""Progress of a long CLI operation when stderr is not a terminal: a line at the start, at the
end, and at most one every few seconds between."""

from __future__ import annotations

import io

from router.progress import Lines, progress


def test_lines_come_at_the_start_the_end_and_on_a_pace_between() -> None:
    out = io.StringIO()
    now = [0.0]
    lines = Lines("replaying q.dlq", out, every=5.0, clock=lambda: now[0])
    for done in range(0, 101):
        now[0] = done * 0.2  # 20 s in all: a line every 5 s
        lines(done, 100)
    said = out.getvalue().splitlines()
    assert said[0] == "router: replaying q.dlq: 0 of 100"
    assert said[-1] == "router: replaying q.dlq: 100 of 100"
    assert said[1:-1] == [f"router: replaying q.dlq: {n} of 100" for n in (25, 50, 75)]


def test_not_a_terminal_gets_lines() -> None:
    out = io.StringIO()
    with progress("moving", out) as report:
        report(0, 2)
        report(2, 2)
    assert out.getvalue().splitlines() == ["router: moving: 0 of 2", "router: moving: 2 of 2"]
