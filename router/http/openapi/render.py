"""The OpenAPI 3.1 document of an application, from the routes it serves and what each said
about itself (:func:`router.http.openapi.spec.documented`). A route that said nothing makes
the document fail to build, so what is served and what is described cannot part."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from router.http.openapi.spec import (
    INSTANCE,
    OPERATIONS,
    REFUSALS,
    SHARED_REPLIES,
    Component,
    Operation,
    Param,
    Reply,
    Schema,
)

OPENAPI_VERSION = "3.1.0"
# aiohttp's own method for every GET; the document lists the GET.
UNDOCUMENTED_METHODS = frozenset({"HEAD"})
_VARIABLE = re.compile(r"\{(\w+)(?::((?:[^{}]|\{[^{}]*\})+))?\}")
_WORDS = re.compile(r"^[\w-]+(\|[\w-]+)*$")

SECURITY_SCHEMES = {
    "apikey": {"type": "apiKey", "in": "header", "name": "apikey"},
    "bearer": {"type": "http", "scheme": "bearer"},
}


# What the document names in its components: models, and schemas named where they are made.
Named = dict[str, type[BaseModel] | Component]


class Undocumented(LookupError):
    """Routes served without a description."""


def document(app: web.Application, *, title: str, version: str) -> dict[str, Any]:
    operations = app.get(OPERATIONS, {})
    missing = sorted(
        f"{route.method} {route.resource.canonical}"
        for route in app.router.routes()
        if route.resource is not None
        and route.method not in UNDOCUMENTED_METHODS
        and (route.method, route.resource.canonical) not in operations
    )
    if missing:
        raise Undocumented(f"routes without a description: {', '.join(missing)}")
    models: Named = {}
    paths: dict[str, dict[str, Any]] = {}
    for (method, canonical), (raw, operation) in sorted(operations.items(), key=_order):
        shown, variables = path_of(operation.path or raw)
        paths.setdefault(shown, {})[method.lower()] = operation_object(
            method, canonical, operation, variables, models
        )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "responses": {
                REFUSALS[status][0]: reply_object(reply, models)
                for status, reply in SHARED_REPLIES.items()
            },
            "schemas": component_schemas(models),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _order(item: tuple[tuple[str, str], tuple[str, Operation]]) -> tuple[str, str]:
    (method, canonical), _ = item
    return canonical, method


def path_of(raw: str) -> tuple[str, dict[str, str | None]]:
    """The documented path and its variables, each with the route's regex if it has one."""
    variables: dict[str, str | None] = {}

    def plain(match: re.Match[str]) -> str:
        variables[match[1]] = match[2]
        return "{" + match[1] + "}"

    return _VARIABLE.sub(plain, raw), variables


def variable_schema(name: str, regex: str | None, given: Mapping[str, Schema]) -> Schema:
    if name in given:
        return given[name]
    if regex is not None and _WORDS.match(regex):
        return {"type": "string", "enum": regex.split("|")}
    if name == "instance":
        return INSTANCE
    return {"type": "string", "minLength": 1}


def operation_object(
    method: str,
    canonical: str,
    operation: Operation,
    variables: Mapping[str, str | None],
    models: Named,
) -> dict[str, Any]:
    params = [
        Param(name, "path", variable_schema(name, regex, operation.path_params), required=True)
        for name, regex in variables.items()
    ]
    result: dict[str, Any] = {
        "operationId": operation_id(method, canonical),
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        result["description"] = operation.description
    all_params = [*params, *operation.params]
    if all_params:
        result["parameters"] = [param_object(p, models) for p in all_params]
    if operation.body:
        result["requestBody"] = {
            "required": True,
            "content": {
                media: {"schema": schema_of(schema, models)}
                for media, schema in operation.body.items()
            },
        }
    replies = dict(operation.replies)
    if operation.auth != "none":
        # Every path that reads a key refuses one sent in its query string (router.http.keys).
        replies.setdefault(400, SHARED_REPLIES[400])
    result["responses"] = {
        str(status): reply_or_shared(status, reply, models)
        for status, reply in sorted(replies.items())
    }
    result["security"] = [] if operation.auth == "none" else [{"apikey": []}, {"bearer": []}]
    return result


def operation_id(method: str, canonical: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", canonical)
    return "_".join([method.lower(), *words]) if words else method.lower()


def param_object(param: Param, models: Named) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": param.name,
        "in": param.where,
        "required": param.required or param.where == "path",
        "schema": schema_of(param.schema, models),
    }
    if param.description:
        result["description"] = param.description
    return result


def reply_or_shared(status: int, reply: Reply, models: Named) -> dict[str, Any]:
    if SHARED_REPLIES.get(status) is reply:
        return {"$ref": f"#/components/responses/{REFUSALS[status][0]}"}
    return reply_object(reply, models)


def reply_object(reply: Reply, models: Named) -> dict[str, Any]:
    result: dict[str, Any] = {"description": reply.description}
    if reply.schema is not None:
        result["content"] = {reply.media: {"schema": schema_of(reply.schema, models)}}
    if reply.headers:
        result["headers"] = {
            name: {"schema": {"type": "string"}, "description": f"The {name} header."}
            for name in reply.headers
        }
    return result


def schema_of(schema: Schema, models: Named) -> Any:
    """A dict schema as it is (models inside it replaced by references), a model by a
    reference to its component."""
    if isinstance(schema, Component):
        if schema.name not in models:
            models[schema.name] = schema
            # Walked once, for the components it holds in turn.
            models[schema.name] = Component(schema.name, _walk(schema.schema, models))
        return {"$ref": f"#/components/schemas/{schema.name}"}
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        models[schema.__name__] = schema
        return {"$ref": f"#/components/schemas/{schema.__name__}"}
    return _walk(schema, models)


def _walk(value: Any, models: Named) -> Any:
    if isinstance(value, Component) or (isinstance(value, type) and issubclass(value, BaseModel)):
        return schema_of(value, models)
    if isinstance(value, Mapping):
        return {key: _walk(inner, models) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(inner, models) for inner in value]
    return value


def component_schemas(models: Named) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for name in sorted(models):
        named = models[name]
        if isinstance(named, Component):
            components[name] = dict(named.schema)
            continue
        schema = named.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[name] = schema
    return dict(sorted(components.items()))
