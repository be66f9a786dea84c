"""One event in the payload shapes of other platforms' consumers (RyzeAPI, VZaps), beside the
catalog: ``table`` says which type an event is in each, ``ryze`` and ``vzaps`` build the data
their consumers read, ``wrap`` puts it in the platform's envelope."""

from schemas.shapes.table import (
    FORMATS,
    SHAPES,
    ByData,
    Kind,
    PayloadFormat,
    Row,
    kind_of,
    markdown_table,
    names_of,
    platform_type,
    types_of,
    wires_of,
)
from schemas.shapes.wrap import shaped

__all__ = [
    "FORMATS",
    "SHAPES",
    "ByData",
    "Kind",
    "PayloadFormat",
    "Row",
    "kind_of",
    "markdown_table",
    "names_of",
    "platform_type",
    "shaped",
    "types_of",
    "wires_of",
]
