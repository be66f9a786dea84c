"""The environment, read once, and misspelt variables refused: a name that starts with a known
family prefix but is not a setting of that family stops start-up, with the nearest real name.

Names of the shape Kubernetes injects for services (``RABBITMQ_PORT=tcp://...``,
``RABBITMQ_SERVICE_HOST``) are never settings and are passed over.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from dotenv import dotenv_values

from router.logging import configure, get_logger

_K8S_SERVICE_LINK = re.compile(
    r"_SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$|_PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$"
)
log = get_logger("router.settings")


class SettingsError(ValueError):
    """Start-up refused: the message names every offending variable."""


@dataclass(frozen=True, slots=True)
class Environment:
    """The variables, read once: the process environment, then the ``.env`` file. A setting
    set in the first wins over the same setting in the second, whichever spelling each uses."""

    layers: tuple[Mapping[str, str], ...]
    # Each layer by upper-cased name, empty values left out (empty means the default, as
    # Evolution's .env leaves many empty): what settings are looked up in, made once.
    by_name: tuple[Mapping[str, str], ...]

    @classmethod
    def of(cls, *layers: Mapping[str, str]) -> Environment:
        return cls(layers, tuple({k.upper(): v for k, v in x.items() if v != ""} for x in layers))

    def first(self, spellings: Sequence[str]) -> str | None:
        """The value of the first layer that sets any of ``spellings``; in that layer, the
        first spelling set."""
        return next((x[s] for x in self.by_name for s in spellings if s in x), None)

    @property
    def merged(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for layer in reversed(self.layers):
            found.update(layer)
        return found


def read_environment(env_file: str | Path | None) -> Environment:
    """The one read of the process environment and the ``.env`` file."""
    from_file: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        from_file = {k: v or "" for k, v in dotenv_values(env_file).items()}
    return Environment.of(dict(os.environ), from_file)


def is_service_link(name: str, value: str) -> bool:
    return bool(_K8S_SERVICE_LINK.search(name)) or (
        name.endswith("_PORT") and value.startswith(("tcp://", "udp://", "sctp://"))
    )


def unknown_variables(
    environ: Mapping[str, str], families: Mapping[str, set[str]]
) -> list[tuple[str, str | None]]:
    """(name, nearest known name or None) for each unknown variable in a known family;
    ``families``: each checked family's prefix and the names it knows."""
    every = sorted(set().union(*families.values()))
    found = []
    for raw, value in environ.items():
        name = raw.upper()
        prefix = next((p for p in families if name.startswith(p)), None)
        if prefix is None or name in families[prefix] or is_service_link(name, value):
            continue
        close = difflib.get_close_matches(name, every, n=1, cutoff=0.75)
        found.append((raw, close[0] if close else None))
    return sorted(found)


def check_environment(environ: Mapping[str, str], families: Mapping[str, set[str]]) -> None:
    problems = unknown_variables(environ, families)
    if not problems:
        return
    lines = [
        f"{name}: not a setting" + (f"; did you mean {near}?" if near else "")
        for name, near in problems
    ]
    strict = environ.get("ROUTER_STRICT_ENV", "true").strip().lower() not in ("false", "0", "no")
    if strict:
        raise SettingsError(
            "unknown variables (set ROUTER_STRICT_ENV=false to only warn):\n  " + "\n  ".join(lines)
        )
    if not structlog.is_configured():
        # Start-up has not set logging up yet; structlog's default would print to stdout, into
        # the output of `router config --json`, in a format LOG_FORMAT did not ask for.
        configure(environ.get("LOG_LEVEL") or "INFO", environ.get("LOG_FORMAT") or "auto")
    for line in lines:
        log.warning("settings.unknown_variable", detail=line)
