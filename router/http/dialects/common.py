"""What the configuration dialects share: auth, body reading, field checks, event names,
readable refusals and the one path every change takes to the store.

Each dialect turns its request into a change of the instance's whole document and hands it to
``ConfigService.update`` once, so a refusal at any step stores nothing and announces nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from router import metrics
from router.amqp.broker import BrokerUnavailable
from router.config.configsvc import Change, ConfigRefused, StoreUnavailable
from router.http.appkeys import CONFIG, SETTINGS
from router.http.auth import key_matches, presented_key, same_secret
from router.http.requests import (
    Refused,
    check_no_key_in_query,
    check_not_looped,
    checked_instance,
    parse_json,
    read_body,
    unauthorized,
)
from router.logging import get_logger, mask_url
from schemas.catalog import CATALOG, UnknownEventError, by_wire, resolve
from schemas.instance import InvalidInstanceError, validate_instance
from schemas.instance_config import InstanceConfig, WebhookConfig
from schemas.shapes import FORMATS, PayloadFormat
from schemas.timefmt import utc_now

log = get_logger("router.dialects")

# Configuration bodies are a few kilobytes; anything near this is a mistake, not a config.
MAX_BODY_BYTES = 256 * 1024
# Shown instead of a stored secret; sent back unchanged, it keeps the stored value.
MASK = "********"
# Header values that are credentials: shown masked in answers; a client that sends the mask
# back keeps the stored value.
SENSITIVE_HEADER = re.compile(r"authorization|jwt_key|token|secret|api[-_]?key|password", re.I)


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {n: MASK if SENSITIVE_HEADER.search(n) and v else v for n, v in headers.items()}


def shown_url(url: str) -> str:
    """A webhook's URL as answered: its password and credential query values masked."""
    return mask_url(url)


def unmasked_url(sent: str, stored: str) -> str:
    """``sent``, or the stored URL when ``sent`` is the stored one as answered (masked)."""
    return stored if sent != stored and sent == shown_url(stored) else sent


def restored(patch: Mapping[str, Any], stored: WebhookConfig) -> dict[str, Any]:
    """``patch`` with what answers mask (credential headers, a URL's credentials) sent back as
    shown taken as "keep what is stored"."""
    data = dict(patch)
    if isinstance(data.get("headers"), Mapping):
        data["headers"] = unmasked_headers(data["headers"], stored.headers)
    if isinstance(data.get("url"), str):
        data["url"] = unmasked_url(data["url"], stored.url)
    return data


def unmasked_headers(sent: Mapping[str, str], stored: Mapping[str, str]) -> dict[str, str]:
    """``sent``, with any masked value replaced by the stored one of the same name."""
    by_name = {n.lower(): v for n, v in stored.items()}
    return {n: by_name.get(n.lower(), v) if v == MASK else v for n, v in sent.items()}


DEFAULT_LABEL = "default"

Handler = Callable[[web.Request], Awaitable[web.Response]]
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


async def authorise(request: web.Request, instance: str | None) -> None:
    """The router's key opens every instance; an instance's own token (Evolution's ``token``
    of its creation body) opens that instance alone, as in Evolution."""
    check_not_looped(request)
    check_no_key_in_query(request, "api")
    presented = presented_key(request)
    if key_matches(request.app[SETTINGS].authentication.api_key.get_secret_value(), presented):
        return
    # A name no instance can have (from a query string, unchecked) has no token to open it.
    if instance is not None and presented is not None and is_instance_name(instance):
        token = (await request.app[CONFIG].get(instance)).token
        if same_secret(token, presented):
            return
    raise unauthorized("api", presented, "missing or wrong API key (apikey header or Bearer token)")


def guarded(handler: Handler, *, auth: bool = True) -> Handler:
    """Checks the key (or the path's instance's token) before the handler runs, unless the
    handler does it itself (``auth=False``), and turns any ``Refused`` into its answer."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.Response:
        try:
            # Before anything else, also for handlers that read their body before their
            # auth (``POST /instance/create`` finds the instance in it).
            check_no_key_in_query(request, "api")
            if auth:
                await authorise(request, path_instance_name(request))
            return await handler(request)
        except Refused as refused:
            return counted(refused)
        except BrokerUnavailable as exc:
            # Checked before anything is stored, or stored and applied here while the
            # announcement waits for the periodic resync of the other replicas.
            return counted(Refused(503, "broker_unavailable", f"RabbitMQ is unavailable: {exc}"))
        except StoreUnavailable as exc:
            return counted(
                Refused(503, "store_unavailable", f"the configuration store failed: {exc}")
            )

    return run


def counted(refused: Refused) -> web.Response:
    metrics.API_REFUSED.labels(reason=refused.reason).inc()
    return refused.response()


def invalid(message: str) -> Refused:
    return Refused(422, "invalid", message)


def not_found(message: str) -> Refused:
    return Refused(404, "not_found", message)


def field(where: str, name: str) -> str:
    """A field's name as the client spelled it, inside its block (``webhook.url``)."""
    return f"{where}.{name}" if where else name


def shown(value: Any) -> str:
    return orjson.dumps(value).decode()


def path_instance_name(request: web.Request) -> str | None:
    """The path's instance when it is a valid name, for checking its token."""
    name = request.match_info.get("instance")
    return name if name is not None and is_instance_name(name) else None


def is_instance_name(name: str) -> bool:
    try:
        validate_instance(name)
    except InvalidInstanceError:
        return False
    return True


def instance_of(request: web.Request) -> str:
    return checked_instance(request.match_info["instance"])


async def read_object(request: web.Request) -> dict[str, Any]:
    body = await read_body(request, MAX_BODY_BYTES)
    if not body.strip():
        raise Refused(400, "malformed_json", "the body is empty; send a JSON object")
    value = parse_json(body)
    if not isinstance(value, dict):
        raise Refused(
            400, "malformed_json", f"the body must be a JSON object, not {type_name(value)}"
        )
    return value


def type_name(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def unwrap(body: dict[str, Any], name: str, *, strict: bool = True) -> dict[str, Any]:
    """The ``name`` block of ``{"name": {...}}``, or the body itself when sent flat."""
    if name not in body:
        return body
    check_fields(body, {name}, "", strict=strict)
    block = body[name]
    if not isinstance(block, dict):
        raise invalid(f"{name} must be an object, not {type_name(block)}")
    return block


def check_fields(
    body: Mapping[str, Any], allowed: Iterable[str], where: str, *, strict: bool = True
) -> None:
    """Refuse fields outside ``allowed``; on Evolution's own paths (``strict=False``) they are
    ignored as Evolution ignores them, and logged."""
    known = set(allowed)
    unknown = sorted(set(body) - known)
    if unknown and not strict:
        log.info("config.fields_ignored", where=where or "body", fields=unknown)
        return
    if unknown:
        place = f" in {where}" if where else ""
        raise invalid(
            f"unknown field{'s' if len(unknown) > 1 else ''}{place}: {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(known))}"
        )


def get_bool(body: Mapping[str, Any], name: str, where: str) -> bool | None:
    """The field's value; ``None`` when absent or null, which leaves the stored value."""
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise invalid(f"{field(where, name)} must be true or false, not {shown(value)}")


def get_str(body: Mapping[str, Any], name: str, where: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise invalid(f"{field(where, name)} must be a string, not {type_name(value)}")


def get_format(body: Mapping[str, Any], name: str, where: str) -> PayloadFormat | None:
    """A payload shape: ``evolution``, ``ryze`` or ``vzaps``."""
    value = get_str(body, name, where)
    if value is None:
        return None
    for known in FORMATS:
        if value == known:
            return known
    raise invalid(f"{field(where, name)} must be one of {', '.join(FORMATS)}, not {value!r}")


def get_headers(body: Mapping[str, Any], name: str, where: str) -> dict[str, str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(
            f"{field(where, name)} must be an object of header names to string values, e.g. "
            '{"Authorization": "Bearer abc"}'
        )
    return value


def get_events(body: Mapping[str, Any], name: str, where: str) -> list[str] | None:
    """Wire names for a list of event names in any accepted spelling."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(
            f"{field(where, name)} must be an array of event names, e.g. "
            '["MESSAGES_UPSERT", "CONNECTION_UPDATE"]'
        )
    return list(dict.fromkeys(event_wire(v, field(where, name)) for v in value))


def event_wire(name: str, where: str) -> str:
    try:
        return resolve(name).wire
    except UnknownEventError as exc:
        raise Refused(
            422, "unknown_event", f"{where}: {exc}", suggestions=exc.suggestions
        ) from None


def one_of(
    body: Mapping[str, Any],
    names: Sequence[str],
    where: str,
    read: Callable[[Mapping[str, Any], str, str], T | None],
) -> T | None:
    """One setting that clients spell several ways; spellings that disagree are refused
    rather than one silently winning."""
    found = [(name, read(body, name, where)) for name in names if body.get(name) is not None]
    if len({shown(value) for _, value in found}) > 1:
        spelled = ", ".join(field(where, name) for name, _ in found)
        raise invalid(f"{spelled} disagree; send only one of them")
    return found[0][1] if found else None


def validation_message(exc: ValidationError, where: str) -> str:
    problems = []
    for error in exc.errors():
        place = field(where, ".".join(str(part) for part in error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{place}: {message}" if place else message)
    return "; ".join(problems)


def build(model: type[M], data: Mapping[str, Any], where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(validation_message(exc, where)) from None


def merged_webhook(
    previous: WebhookConfig | None, patch: Mapping[str, Any], where: str, label: str
) -> WebhookConfig:
    """``previous`` with the fields the client sent; a new webhook when there was none.

    Built through validation (never ``model_copy``), so a bad URL or label is refused here.
    """
    if previous is None:
        data: dict[str, Any] = {"label": label, **patch}
    else:
        data = {**previous.model_dump(), **restored(patch, previous), "updated_at": utc_now()}
        if patch.get("enabled") is True and not previous.enabled:
            # Switched on again: a new failing spell starts (``router.delivery.lifecycle``).
            data |= {"failing_since": None, "disabled_reason": None}

    if not data.get("url"):
        raise invalid(f"{field(where, 'url')} is required: the http or https URL to post events to")
    return build(WebhookConfig, data, where)


async def apply(request: web.Request, instance: str, change: Change) -> InstanceConfig:
    """The one write of a request: refusals from the change or the service store nothing."""
    try:
        return await request.app[CONFIG].update(instance, change)
    except ConfigRefused as exc:
        raise Refused(exc.status, "invalid", str(exc)) from None
    except ValidationError as exc:
        raise invalid(validation_message(exc, "")) from None


def listed_keys(events: Sequence[str], enabled: bool) -> list[str]:
    """Config keys of a stored events list. An enabled block with no events sends every
    event; Evolution answers that case with the full list, so clients see what is sent."""
    if not events:
        return [event.key for event in CATALOG] if enabled else []
    return [by_wire(wire).key for wire in events]
