"""Live events over WebSocket, resumable from a RabbitMQ stream: the ``websocket`` role."""

from __future__ import annotations

from adapters.websocket.gateway import WebsocketGateway
from router.config.settings import Settings


def build(settings: Settings) -> WebsocketGateway | None:
    """The ``router.adapters`` entry point: on with ``WEBSOCKET_ENABLED``."""
    return WebsocketGateway(settings) if settings.websocket.enabled else None


__all__ = ["WebsocketGateway", "build"]
