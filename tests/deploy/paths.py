"""Where the deployment files live, and the tools that check them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
YAMLLINT_CONFIG = DEPLOY / ".yamllint.yaml"


def tool(name: str) -> str:
    """A command-line tool installed beside this Python (the test extra), else on PATH; a
    missing tool fails the test that needs it."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]' (or the system package)"
    return found
