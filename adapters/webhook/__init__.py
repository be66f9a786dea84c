"""Webhook delivery: the ``webhook`` role (and its errors reporter)."""

from __future__ import annotations

from urllib.parse import urlsplit

from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.errors import ErrorsReporter
from adapters.webhook.signing import WebhookSecret, parse_secrets
from adapters.webhook.subscriptions import Subscription, Subscriptions
from router.config.settings import Settings
from router.constants import EVOLUTION_INGEST_PATH
from router.delivery.adapter import Adapter
from router.logging import get_logger, mask_url
from schemas.instance_config import check_url

log = get_logger("adapters.webhook")


def global_subscription(settings: Settings) -> Subscription | None:
    hook = settings.webhook
    if not (hook.global_enabled and hook.global_url):
        return None
    try:
        check_url(hook.global_url)
    except ValueError:
        raise ValueError(
            f"WEBHOOK_GLOBAL_URL ({mask_url(hook.global_url)}) must be an absolute http or "
            "https URL, such as https://hooks.example.com/evolution"
        ) from None
    path = urlsplit(hook.global_url).path.rstrip("/")
    if path == EVOLUTION_INGEST_PATH or path.startswith(EVOLUTION_INGEST_PATH + "/"):
        raise ValueError(
            f"WEBHOOK_GLOBAL_URL ({mask_url(hook.global_url)}) points at a router's ingest for "
            "Evolution: "
            "every event would come back in again. The router's global webhook is where events "
            "go out to; Evolution's WEBHOOK_GLOBAL_URL is the one that points at the router "
            "(keep the two .env files apart)"
        )
    events = hook.enabled_events()
    if not events:
        log.warning(
            "webhook.no_events",
            detail="WEBHOOK_GLOBAL_ENABLED is true but no WEBHOOK_EVENTS_* is: nothing is sent",
        )
        return None
    return Subscription(
        url=hook.global_url,
        events=events,
        by_events=hook.global_webhook_by_events,
        secrets=secrets_of(settings),
        format=hook.global_format,
    )


def secrets_of(settings: Settings) -> tuple[WebhookSecret, ...]:
    try:
        return parse_secrets(settings.webhook.secret.get_secret_value())
    except ValueError as exc:
        raise ValueError(f"WEBHOOK_SECRET: {exc}") from None


def build(settings: Settings) -> list[Adapter]:
    """The ``router.adapters`` entry point of the webhook role."""
    # Always built: per-instance subscriptions may be set at any time through the API.
    sub = global_subscription(settings)
    adapters: list[Adapter] = [WebhookAdapter(settings, Subscriptions([sub] if sub else []))]
    hook = settings.webhook
    if hook.events_errors and hook.events_errors_webhook:
        adapters.append(ErrorsReporter(settings, secrets_of(settings)))
    return adapters


__all__ = ["ErrorsReporter", "Subscription", "Subscriptions", "WebhookAdapter", "build"]
