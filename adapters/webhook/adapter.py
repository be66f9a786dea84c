"""The webhook adapter: every subscription that wants an event gets one POST of the envelope,
independently of the others."""

from __future__ import annotations

import asyncio

from adapters.webhook.endpoints import Endpoints
from adapters.webhook.sender import Request, Result, Sender
from adapters.webhook.subscriptions import Subscription, Subscriptions
from router.adapter import Delivery, Outcome, PerTarget, RetryPolicy, Skipped
from router.settings import Settings


def retry_policy(settings: Settings) -> RetryPolicy:
    hook = settings.webhook
    return RetryPolicy(
        max_attempts=hook.retry_max_attempts,
        initial_delay=hook.retry_initial_delay_seconds,
        exponential=hook.retry_use_exponential_backoff,
        max_delay=hook.retry_max_delay_seconds,
        jitter=hook.retry_jitter_factor,
    )


def new_sender(settings: Settings, policy: RetryPolicy) -> Sender:
    hook = settings.webhook
    endpoints = Endpoints(
        max_in_flight=hook.endpoint_max_in_flight,
        failure_threshold=hook.endpoint_failure_threshold,
        # An endpoint that keeps failing is left alone as long as the retry policy would wait.
        cooldown=lambda opened: policy.delay_for(opened),
    )
    return Sender(policy, hook.non_retryable_codes, hook.request_timeout_ms, endpoints)


class WebhookAdapter:
    name = "webhook"

    def __init__(self, settings: Settings, subscriptions: Subscriptions) -> None:
        self.retry_policy = retry_policy(settings)
        self.subscriptions = subscriptions
        self.sender = new_sender(settings, self.retry_policy)

    def routing_keys(self) -> frozenset[str]:
        return self.subscriptions.binding_keys()

    async def start(self) -> None:
        await self.sender.start()

    async def close(self) -> None:
        await self.sender.close()

    async def deliver(self, delivery: Delivery) -> Outcome:
        envelope = delivery.envelope
        if delivery.target is not None:
            sub = self.subscriptions.get(delivery.target)
            if sub is None or not sub.wants(envelope):
                return Skipped(f"subscription {delivery.target} no longer wants {envelope.event}")
            return await self.send(sub, delivery)
        targets = self.subscriptions.for_envelope(envelope)
        if not targets:
            return Skipped(f"no subscription wants {envelope.instance}.{envelope.event}")
        if len(targets) == 1:
            return await self.send(targets[0], delivery)
        results = await asyncio.gather(*(self.send(sub, delivery) for sub in targets))
        return PerTarget({sub.id: result for sub, result in zip(targets, results, strict=True)})

    async def send(self, sub: Subscription, delivery: Delivery) -> Result:
        envelope = delivery.envelope
        url = sub.url_for(envelope.event)
        request = Request(
            url=url,
            body=envelope.with_destination(url).to_json(),
            event_id=envelope.id,
            headers=sub.headers,
            secrets=sub.secrets,
        )
        return await self.sender.send(request, delivery.attempt)
