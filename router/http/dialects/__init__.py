"""The per-instance configuration APIs: Evolution's, RyzeAPI's and CodeChat's calls, each
spoken over the same stored document, so a platform built on any of them can point its
configuration calls at the router. Their paths, and what the API document says of each, are
in ``routes``."""

from router.http.dialects.routes import add_routes

__all__ = ["add_routes"]
