"""SQS delivery: the ``sqs`` role."""

from __future__ import annotations

from adapters.sqs.adapter import SqsAdapter
from router.config.settings import Settings


def build(settings: Settings) -> SqsAdapter | None:
    """The ``router.adapters`` entry point of the sqs role: on with ``SQS_ENABLED``; global
    events with ``SQS_GLOBAL_ENABLED``, per-instance ones from each instance's ``sqs`` block."""
    return SqsAdapter(settings) if settings.sqs.enabled else None


__all__ = ["SqsAdapter", "build"]
