"""The API contract: each route describes itself beside its handler (``spec``), the
application's routes and those descriptions make the OpenAPI 3.1 document (``render``), served
at ``/openapi.json`` (``serve``) and kept in ``docs/openapi.json``."""

from router.http.openapi.render import Undocumented, document
from router.http.openapi.serve import add_routes, render
from router.http.openapi.spec import (
    ANY_JSON,
    INSTANCE,
    PROBLEM,
    Component,
    Operation,
    Param,
    Reply,
    Schema,
    array,
    boolean,
    documented,
    integer,
    nullable,
    number,
    obj,
    or_empty,
    refusals,
    string,
)

__all__ = [
    "ANY_JSON",
    "INSTANCE",
    "PROBLEM",
    "Component",
    "Operation",
    "Param",
    "Reply",
    "Schema",
    "Undocumented",
    "add_routes",
    "array",
    "boolean",
    "document",
    "documented",
    "integer",
    "nullable",
    "number",
    "obj",
    "or_empty",
    "refusals",
    "render",
    "string",
]
