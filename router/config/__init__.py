"""What the router is told: the environment's settings (``settings``, checked by ``envcheck``,
documented by ``envexample``), per-instance configuration kept in a store (``store``), which
instances a channel serves (``selection``), and the service that changes it and announces the
change (``configsvc``)."""

from router.config.settings import Settings
from router.config.store import ConfigStore, open_store

__all__ = ["ConfigStore", "Settings", "open_store"]
