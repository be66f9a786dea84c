"""Queue names: ``<instance word>-<event key lower-cased>`` (the instance's name itself when it
is a safe word, see ``schemas.instance``), ``.fifo`` in FIFO mode; with
``SQS_QUEUE_NAMING=evolution``, the FIFO queues Evolution 2.3 creates:
``<instance word>_<event key lower-cased>.fifo`` per instance, ``<prefix>_<event>.fifo`` shared
by every instance in global mode.

SQS allows 80 characters (``.fifo`` included). A longer name keeps its first characters and ends
with ``-`` and the first 8 hex digits of the SHA-256 of the full name, so the same instance and
event always give the same short name and two long names stay apart.
"""

from __future__ import annotations

import hashlib

from schemas import event_type, instance_word

SQS_NAME_LIMIT = 80
FIFO_SUFFIX = ".fifo"
HASH_CHARS = 8


def shorten(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_CHARS]
    return f"{name[: limit - HASH_CHARS - 1]}-{digest}"


def queue_name(instance: str, event: str, *, fifo: bool = False, single: str | None = None) -> str:
    """The queue of ``event`` (a wire name) of ``instance``; ``single`` names the one queue of
    single-queue mode instead."""
    base = (
        single
        if single is not None
        else f"{instance_word(instance)}-{event_type(event).sqs_suffix}"
    )
    limit = SQS_NAME_LIMIT - (len(FIFO_SUFFIX) if fifo else 0)
    return shorten(base, limit) + (FIFO_SUFFIX if fifo else "")


def evolution_queue_name(
    instance: str, event: str, *, global_prefix: str | None = None, single: bool = False
) -> str:
    """Evolution's queue of ``event`` (a wire name): the instance's own, or with
    ``global_prefix`` the one every instance shares (``<prefix>_singlequeue`` for all events
    with ``single``)."""
    owner = instance_word(instance) if global_prefix is None else global_prefix
    kind = "singlequeue" if single else event_type(event).sqs_suffix
    return shorten(f"{owner}_{kind}", SQS_NAME_LIMIT - len(FIFO_SUFFIX)) + FIFO_SUFFIX
