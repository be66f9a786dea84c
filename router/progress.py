"""How a long CLI operation shows its progress, on stderr (stdout keeps its JSON): a bar in a
terminal, a line every few seconds otherwise (a log collector, a CI job)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

# Hears (done, total) as the work goes on.
Report = Callable[[int, int], None]
LINE_EVERY_SECONDS = 5.0


class Lines:
    """A line at the start, at the end, and at most every ``every`` seconds between."""

    def __init__(
        self,
        what: str,
        out: TextIO,
        every: float = LINE_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.out, self.every, self.clock = what, out, every, clock
        self._last: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        due = self._last is None or now - self._last >= self.every
        if due or done >= total:
            print(f"router: {self.what}: {done} of {total}", file=self.out, flush=True)
            self._last = now


@contextlib.contextmanager
def progress(what: str, out: TextIO | None = None) -> Iterator[Report]:
    stream = sys.stderr if out is None else out
    if not stream.isatty():
        yield Lines(what, stream)
        return
    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream)) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
