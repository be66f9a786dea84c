"""The fault suite at full size: each scenario on RabbitMQ nodes of its own, the router as one
process per role, a producer that resends with the same id, and a webhook sink that counts.

    python bench/reliability.py [--size full|ci] [--only NAME ...] [--markdown FILE]

Prints one table row per scenario (accepted, delivered, lost, duplicates by same and new id,
time to drain, 503 window, longest request) with the RabbitMQ version, and, with
``--markdown``, writes the table to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from tests.reliability.report import markdown_table  # noqa: E402
from tests.reliability.scenarios import CI, FULL, SCENARIOS, Outcome  # noqa: E402


def rabbitmq_version() -> str:
    found = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "unknown"


def verdict(outcome: Outcome) -> str:
    row = outcome.row
    problems = []
    if row.lost:
        problems.append(f"{row.lost} lost")
    if row.duplicates_new_id:
        problems.append(f"{row.duplicates_new_id} duplicates under a new id")
    if not outcome.drained:
        problems.append("not drained")
    return "ok" if not problems else ", ".join(problems)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=("full", "ci"), default="full")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    size = FULL if args.size == "full" else CI
    console = Console(stderr=True)
    outcomes: list[Outcome] = []
    for name in args.only or list(SCENARIOS):
        started = time.monotonic()
        with console.status(f"{name} ({size.name} size)"):
            outcome = await SCENARIOS[name](size)
        outcomes.append(outcome)
        console.print(
            f"{name}: {verdict(outcome)} in {time.monotonic() - started:.0f} s "
            f"(fault {outcome.fault_seconds:.1f} s, dead letters {outcome.dead_letters})"
        )
    table = markdown_table(o.row for o in outcomes)
    header = f"RabbitMQ {rabbitmq_version()}, {size.name} size\n\n"
    print(header + table)
    if args.markdown is not None:
        args.markdown.write_text(header + table, encoding="utf-8")


if __name__ == "__main__":
    # SIGTERM ends the run as an interrupt does, so the RabbitMQ nodes it started go with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main())
