"""Adapters are found by role name, through the ``router.adapters`` entry-point group or an
in-process registration, so the core never imports a concrete adapter at module level."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from router.config.settings import Settings
from router.constants import ADAPTER_ENTRY_POINT_GROUP
from router.delivery.adapter import Routed

# Builds a role's adapters for these settings: none when the settings leave it disabled.
AdapterFactory = Callable[[Settings], Routed | Sequence[Routed] | None]

_registered: dict[str, AdapterFactory] = {}


class UnknownAdapter(LookupError):
    pass


def register(name: str, factory: AdapterFactory) -> None:
    _registered[name] = factory


def unregister(name: str) -> None:
    _registered.pop(name, None)


def available() -> list[str]:
    names = {ep.name for ep in entry_points(group=ADAPTER_ENTRY_POINT_GROUP)}
    return sorted(names | set(_registered))


def factory_for(name: str) -> AdapterFactory:
    if name in _registered:
        return _registered[name]
    for ep in entry_points(group=ADAPTER_ENTRY_POINT_GROUP, name=name):
        factory: AdapterFactory = ep.load()
        return factory
    raise UnknownAdapter(
        f"no adapter named {name!r}; available: {', '.join(available()) or 'none'}"
    )


def build(name: str, settings: Settings) -> list[Routed]:
    built = factory_for(name)(settings)
    if built is None:
        return []
    if isinstance(built, Sequence):
        return list(built)
    return [built]
