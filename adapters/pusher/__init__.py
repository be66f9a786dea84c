"""Pusher delivery: the ``pusher`` role."""

from __future__ import annotations

from adapters.pusher.adapter import PusherAdapter
from router.config.settings import Settings


def build(settings: Settings) -> PusherAdapter | None:
    """The ``router.adapters`` entry point: on with ``PUSHER_ENABLED``; the global app with
    ``PUSHER_GLOBAL_ENABLED``, per-instance apps from each instance's ``pusher`` block."""
    return PusherAdapter(settings) if settings.pusher.enabled else None


__all__ = ["PusherAdapter", "build"]
