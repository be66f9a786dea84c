"""structlog set-up: JSON lines (orjson) in production, readable lines in a terminal.

Every log line passes through :func:`mask_secrets`, so a secret that reaches an event dict by
accident is still never written.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
import structlog

SECRET_KEY_PATTERN = re.compile(
    r"(api[_-]?key|secret|password|passwd|token|authorization|jwt|credential|access[_-]?key)",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
# A query parameter that carries a credential: any name a secret's key would have, and the
# short names services give a URL's own key (Google's ``key``, Azure's ``code`` and ``sig``).
# Names are bounded, so a long text with an ``&`` in it (a kept body) is scanned in linear time.
_QUERY_NAME = (
    rf"[^=&#\s]{{0,64}}?{SECRET_KEY_PATTERN.pattern}[^=&#\s]{{0,64}}|key|code|sig|signature"
)
_QUERY_CREDENTIAL = re.compile(rf"(?P<name>[?&](?:{_QUERY_NAME})=)[^&#\s\"']+", re.IGNORECASE)
MASK = "***"

_LEVELS = {
    "debug": logging.DEBUG,
    "verbose": logging.DEBUG,
    "info": logging.INFO,
    "log": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


# The router's key travels in this path for Evolution's global webhook, which sends no headers.
_KEY_IN_PATH = re.compile(r"(?P<path>/ingest/evolution/)[^/\s?#\"']+")


@functools.lru_cache(maxsize=4096)
def mask_url(url: str) -> str:
    """Hide the password of any ``scheme://user:password@`` in a string, the value of any
    query parameter named as a credential (``?token=``, ``&api_key=``, ``?code=``), and the
    key of any ``/ingest/evolution/<key>`` path. Every string of every log line passes here,
    and most are the same few (destinations, names): each is masked once."""
    masked = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)
    if "=" in masked:
        masked = _QUERY_CREDENTIAL.sub(lambda m: f"{m['name']}{MASK}", masked)
    return _KEY_IN_PATH.sub(lambda m: f"{m['path']}{MASK}", masked)


def mask_value(key: str, value: Any) -> Any:
    if SECRET_KEY_PATTERN.search(key):
        return MASK if value not in (None, "") else value
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, Mapping):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    return value


def mask_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key in ("event", "message"):
            # The message itself is never masked whole, but a URL password in it is.
            if isinstance(value, str):
                event_dict[key] = mask_url(value)
        else:
            event_dict[key] = mask_value(key, value)
    return event_dict


def level_from(spec: str) -> int:
    """Evolution's ``LOG_LEVEL`` is a list of enabled kinds (``ERROR,WARN,INFO``); the most
    verbose kind listed sets the threshold. A plain level name works too."""
    levels = [_LEVELS[p] for p in (s.strip().lower() for s in spec.split(",")) if p in _LEVELS]
    return min(levels) if levels else logging.INFO


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    """``fmt`` is ``json``, ``console`` or ``auto`` (console when stderr is a terminal)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(event_key="message")
        if use_console
        else structlog.processors.JSONRenderer(serializer=orjson.dumps)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks are text before masking, so a URL in an exception message is masked too.
            structlog.processors.format_exc_info,
            # structlog calls a line's message "event"; here "event" is the event's wire name
            # (passed as "_event"), and the message goes under "message".
            structlog.processors.EventRenamer("message", replace_by="_event"),
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_from(level)),
        logger_factory=(
            structlog.PrintLoggerFactory(file=sys.stderr)
            if use_console
            else structlog.BytesLoggerFactory(file=sys.stderr.buffer)
        ),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def quiet_libraries() -> None:
    """One-off commands say what failed in one line of their own: the AMQP libraries' log
    lines about the same failure would only repeat it."""
    for name in ("aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
