"""Webhook delivery: the ``webhook`` role (and its errors reporter)."""

from __future__ import annotations

from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.errors import ErrorsReporter
from adapters.webhook.signing import WebhookSecret, parse_secrets
from adapters.webhook.subscriptions import Subscription, Subscriptions
from router.adapter import Adapter
from router.logging import get_logger
from router.settings import Settings

log = get_logger("adapters.webhook")


def global_subscription(settings: Settings) -> Subscription | None:
    hook = settings.webhook
    if not (hook.global_enabled and hook.global_url):
        return None
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
