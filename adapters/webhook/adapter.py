"""The webhook adapter: every subscription that wants an event gets one POST of the envelope,
independently of the others."""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import Counter

from adapters.webhook.endpoints import Endpoints
from adapters.webhook.sender import Request, Result, Sender
from adapters.webhook.signing import parse_secrets
from adapters.webhook.subscriptions import Subscription, Subscriptions
from router.amqp.headers import DUE
from router.config.settings import Settings
from router.config.store.base import ConfigStore
from router.delivery.adapter import Delivery, Feed, Outcome, PerTarget, RetryPolicy, Skipped
from router.delivery.fanout import Rereader, fan_out
from router.delivery.retryqueues import delays_ms
from router.delivery.status import ReceiverState
from router.logging import get_logger
from router.media import MediaStore, claims_in, open_media_store, restore_media, strip_media
from schemas import WIRE_NAMES, Envelope
from schemas.instance_config import InstanceConfig
from schemas.shapes import shaped

log = get_logger("adapters.webhook")
# Events that may wait in memory for a receiver's free slot, per request it may have in flight:
# a receiver at its cap has a few seconds of work at hand before any event is deferred.
WAITING_PER_SLOT = 8
UNSHAPED = Counter(
    "router_webhook_unshaped_total",
    "Events not sent to a subscription because its payload format has no type for them",
    ["format", "event"],
)


def new_sender(settings: Settings, policy: RetryPolicy) -> Sender:
    hook = settings.webhook
    endpoints = Endpoints(
        max_in_flight=hook.endpoint_max_in_flight,
        failure_threshold=hook.endpoint_failure_threshold,
        # An endpoint that keeps failing is left alone as long as the retry policy would wait.
        cooldown=lambda opened: policy.delay_for(opened),
        max_waiting=WAITING_PER_SLOT * hook.endpoint_max_in_flight,
        max_reservation=delays_ms(policy)[-1] / 1000,
    )
    return Sender(
        policy, hook.non_retryable_codes, hook.request_timeout_ms, endpoints, hook.guard()
    )


def prefetch_for(settings: Settings) -> int:
    """Messages the webhook consumer holds at once: enough that one receiver, with its requests
    in flight and its events waiting for a slot, holds at most half of them."""
    held = settings.webhook.endpoint_max_in_flight * (1 + WAITING_PER_SLOT)
    return max(settings.router.prefetch, 2 * held)


class WebhookAdapter:
    name = "webhook"

    def __init__(self, settings: Settings, subscriptions: Subscriptions) -> None:
        self.retry_policy = RetryPolicy.from_settings(settings.webhook)
        self.subscriptions = subscriptions
        self.sender = new_sender(settings, self.retry_policy)
        self.feed = Feed(prefetch=prefetch_for(settings))
        self.rereader = Rereader(self.reload)
        self.base_url = settings.server.url  # RyzeAPI's instanceData.baseUrl
        self.media = open_media_store(settings.router)

    def routing_keys(self) -> frozenset[str]:
        return self.subscriptions.binding_keys()

    def receiver_states(self) -> list[ReceiverState]:
        return self.sender.endpoints.states()

    async def start(self) -> None:
        await self.sender.start()

    async def close(self) -> None:
        await self.sender.close()

    async def reload(self, store: ConfigStore, instance: str | None) -> None:
        """Per-instance subscriptions from the store: one instance, or all of them."""
        self.rereader.store = store
        if instance is not None:
            config = await store.get(instance)
            self.subscriptions.replace_instance(
                instance, subscriptions_of(config) if config else []
            )
            return
        configs = {c.instance: c for c in await store.all()}
        known = {s.instance for s in self.subscriptions if s.instance is not None}
        for name in known - set(configs):
            self.subscriptions.replace_instance(name, [])
        for name, config in configs.items():
            self.subscriptions.replace_instance(name, subscriptions_of(config))

    async def deliver(self, delivery: Delivery) -> Outcome:
        envelope = delivery.envelope
        media = MediaBack(envelope, self.media)
        if delivery.target is not None:
            sub = await self._target(delivery.target, envelope)
            if sub is None:
                return Skipped(f"subscription {delivery.target} no longer wants {envelope.event}")
            return await self.send(sub, delivery, media)
        targets = self.subscriptions.for_envelope(envelope)
        if not targets and await self.rereader.again(envelope.instance):
            targets = self.subscriptions.for_envelope(envelope)
        if not targets:
            return Skipped(f"no subscription wants {envelope.instance}.{envelope.event}")
        outcome = await fan_out(
            {sub.id: sub for sub in targets},
            lambda sub: self.send(sub, delivery, media),
            lambda sub: sub.url,
        )
        # A lone subscription's answer is named too, as each of a fan-out's is: its retries go
        # to it alone, and the attempt history can say which subscription answered.
        return outcome if isinstance(outcome, PerTarget) else PerTarget({targets[0].id: outcome})

    async def _target(self, target: str, envelope: Envelope) -> Subscription | None:
        sub = self.subscriptions.get(target)
        if (sub is None or not sub.wants(envelope)) and await self.rereader.again(
            envelope.instance
        ):
            sub = self.subscriptions.get(target)
        return sub if sub is not None and sub.wants(envelope) else None

    async def send(
        self, sub: Subscription, delivery: Delivery, media: MediaBack
    ) -> Result | Skipped:
        envelope = await media.envelope() if sub.base64 else delivery.envelope
        url = sub.url_for(envelope.event)
        body = body_for(envelope, url, sub, self.base_url)
        if body is None:
            label = envelope.event if envelope.event in WIRE_NAMES else "uncatalogued"
            UNSHAPED.labels(format=sub.format, event=label).inc()
            return Skipped(f"{envelope.event} has no type in {sub.format}'s events")
        request = Request(
            url=url,
            body=body,
            event_id=envelope.id,
            headers=sub.headers,
            secrets=sub.secrets,
            operator=sub.instance is None,  # the global webhook, from the environment
        )
        return await self.sender.send(request, delivery.attempt, due_of(delivery))


class MediaBack:
    """The envelope with the media stored aside at ingest (a claim check) put back, read from
    the store once per delivery, however many receivers want base64; a failure to read it is
    each such receiver's own, retried for it alone."""

    def __init__(self, envelope: Envelope, store: MediaStore) -> None:
        self.original, self.store = envelope, store
        self._restoring: asyncio.Task[Envelope] | None = None

    async def envelope(self) -> Envelope:
        if not claims_in(self.original.data):
            return self.original
        if self._restoring is None:
            self._restoring = asyncio.ensure_future(self._restore())
        # Shielded: one receiver's cancelled request must not cancel the others' media.
        return await asyncio.shield(self._restoring)

    async def _restore(self) -> Envelope:
        data = await restore_media(self.original.data, self.store)
        return self.original.model_copy(update={"data": data})


def due_of(delivery: Delivery) -> float | None:
    """The turn a deferred event was given, in seconds since the epoch."""
    value = delivery.headers.get(DUE)
    return value / 1000 if isinstance(value, int) else None


def subscriptions_of(config: InstanceConfig) -> list[Subscription]:
    subs = []
    for hook in config.webhooks:
        try:
            secrets = parse_secrets(hook.secret or "")
        except ValueError as exc:
            # Checked when stored; a document edited by hand must not stop the others.
            log.error(
                "webhook.bad_secret", instance=config.instance, label=hook.label, error=str(exc)
            )
            continue
        subs.append(
            Subscription(
                url=hook.url,
                events=frozenset(hook.events) if hook.events else None,
                instance=config.instance,
                label=hook.label,
                enabled=hook.enabled,
                headers=dict(hook.headers),
                by_events=hook.by_events,
                base64=hook.base64,
                secrets=secrets,
                format=hook.format,
                token=config.token,
            )
        )
    return subs


def body_for(envelope: Envelope, url: str, sub: Subscription, base_url: str) -> bytes | None:
    """The bytes a subscription is sent (and signed over): the envelope addressed to ``url``,
    or the shape of its ``format``; None when that shape has no type for the event."""
    if sub.format == "evolution":
        addressed = envelope.with_destination(url)
        if sub.base64:
            return addressed.to_json()
        document = addressed.model_dump()
    else:
        document = envelope.model_dump(exclude={"destination"})
    if not sub.base64:
        document["data"] = strip_media(document.get("data"))
    shape = shaped(document, sub.format, token=sub.token, base_url=base_url)
    return None if shape is None else orjson.dumps(shape)
