"""The HTTP ways in: the event API (``ingest``), Evolution's webhook posts
(``evolution_webhook``), the configuration API in each platform's dialect (``dialects``), and
what they share (``requests``: refusals, bodies, JSON; ``auth``; ``appkeys``). The application
is put together in ``router.app``."""
