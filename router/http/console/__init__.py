"""The operator console at ``/ui``: a page served from the package (no CDN, nothing fetched at
run time) that signs in with the API key once (``session``) and then uses the router's own API
(``routes``)."""

from router.http.console.routes import add_routes, sessions

__all__ = ["add_routes", "sessions"]
