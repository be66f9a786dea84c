"""What a route says about itself for the API document, declared beside its handler and
registered with it by :func:`documented`, so a path cannot be served without being described.

Schemas are JSON Schema 2020-12 (what OpenAPI 3.1 takes): plain dicts from the small builders
below, or pydantic models where the body already is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

from schemas.instance import INSTANCE_NAME_MAX_LENGTH, INSTANCE_NAME_PATTERN


@dataclass(frozen=True, slots=True)
class Component:
    """A schema the document names once and refers to wherever it is used."""

    name: str
    schema: Mapping[str, Any]


Schema = Mapping[str, Any] | type[BaseModel] | Component
# Who may call: the router's key; the router's key or the instance's own token; anyone.
Auth = Literal["key", "key_or_token", "none"]


@dataclass(frozen=True, slots=True)
class Reply:
    description: str
    schema: Schema | None = None
    media: str = "application/json"
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["query", "path", "header"]
    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tag: str
    replies: Mapping[int, Reply]
    description: str = ""
    # Media type -> schema of the request body; none when the operation takes no body.
    body: Mapping[str, Schema] = field(default_factory=dict)
    params: Sequence[Param] = ()
    auth: Auth = "key"
    # The path as documented when the route's own template cannot be one (a catch-all).
    path: str | None = None
    # Descriptions of the route's path parameters, by name.
    path_params: Mapping[str, Schema] = field(default_factory=dict)


# (method, the route's canonical path) -> (the path as registered, what it says).
OPERATIONS = web.AppKey("operations", dict[tuple[str, str], tuple[str, Operation]])


def documented(
    app: web.Application, method: str, path: str, handler: Handler, operation: Operation
) -> None:
    """Serve ``handler`` at ``method path`` and keep what it says for the API document.
    An ``{instance}`` takes any name but a slash: aiohttp's own default refuses braces too."""
    path = path.replace("{instance}", "{instance:[^/]+}")
    route = app.router.add_route(method, path, handler)
    canonical = route.resource.canonical if route.resource is not None else path
    if OPERATIONS not in app:
        app[OPERATIONS] = {}
    app[OPERATIONS][(method, canonical)] = (path, operation)


# The builders: JSON Schema as the document writes it.


def string(description: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def boolean(description: str = "") -> dict[str, Any]:
    return {"type": "boolean", **({"description": description} if description else {})}


def integer(description: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "integer", **({"description": description} if description else {}), **extra}


def number(description: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "number", **({"description": description} if description else {}), **extra}


def array(items: Schema, description: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "type": "array",
        "items": items,
        **({"description": description} if description else {}),
        **extra,
    }


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def obj(
    properties: Mapping[str, Schema],
    required: Sequence[str] = (),
    *,
    closed: bool = True,
    description: str = "",
) -> dict[str, Any]:
    """An object; ``closed`` when the handler refuses fields it does not know."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


ANY_JSON: dict[str, Any] = {"description": "Any JSON value."}
INSTANCE = Component(
    "Instance",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": INSTANCE_NAME_MAX_LENGTH,
        "pattern": INSTANCE_NAME_PATTERN,
        "description": "The instance's name as the platform gives it: 1 to 255 characters of "
        "any Unicode but control characters (percent-encoded in a path).",
    },
)


def or_empty(schema: Schema) -> dict[str, Any]:
    """A query parameter whose empty value is taken as not given."""
    return {"anyOf": [schema, {"const": ""}]}


# Every refusal the router answers: a word for machines and a sentence for people; some add
# fields of their own (the ids accepted, the index of the event refused, suggestions).
PROBLEM = Component(
    "Problem",
    obj(
        {
            "error": string("What refused it, one word: unauthorized, invalid, too_large, ..."),
            "message": string("What was wrong and how to put it right."),
        },
        ["error", "message"],
        closed=False,
    ),
)

# The refusals every path shares, named once in the document's components.
REFUSALS: Mapping[int, tuple[str, str]] = {
    400: ("BadRequest", "The body is not JSON, or the request is not one the path takes."),
    401: ("Unauthorized", "The key is missing or wrong."),
    404: ("NotFound", "Nothing of that name here."),
    409: ("Conflict", "Not possible as things stand; the message says why."),
    413: ("TooLarge", "The body is over its limit."),
    422: ("Invalid", "JSON, but not a valid request; the message says which field and why."),
    429: ("RateLimited", "Over the instance's ingest rate; nothing was published."),
    503: ("Unavailable", "RabbitMQ or the configuration store is unavailable; retry later."),
}
SHARED_REPLIES: Mapping[int, Reply] = {
    status: Reply(text, PROBLEM, headers=("Retry-After",) if status in (429, 503) else ())
    for status, (_, text) in REFUSALS.items()
}


def refusals(*statuses: int) -> dict[int, Reply]:
    return {status: SHARED_REPLIES[status] for status in statuses}
