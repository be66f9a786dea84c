"""The API fuzzing of CI, run longer: Schemathesis over docs/openapi.json against a running
router on the real RabbitMQ, ``--examples`` cases per operation (CI runs 25), stopped after
``--minutes`` whatever it has reached.

    python bench/fuzz.py [--examples 500] [--minutes 30]

Prints pytest's report: an operation fails on any 5xx, or any answer the document does not
allow (status, content type, headers, body), for valid and invalid requests alike.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/router/http/openapi/test_fuzz.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500, help="cases per operation")
    parser.add_argument("--minutes", type=float, default=30, help="stop after this long")
    args = parser.parse_args()
    env = {**os.environ, "ROUTER_FUZZ_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    pytest = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-W", "error", "-q", "-p", "no:cacheprovider", TEST],
        cwd=ROOT,
        env=env,
    )
    try:
        code = pytest.wait(timeout=args.minutes * 60)
    except subprocess.TimeoutExpired:
        # Ctrl-C, not a kill: pytest then stops the router it started and removes its queues.
        pytest.send_signal(signal.SIGINT)
        pytest.wait(timeout=120)
        print(f"fuzz: stopped after {args.minutes:g} min (--minutes)", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    print(f"fuzz: {args.examples} cases per operation in {took:.0f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
