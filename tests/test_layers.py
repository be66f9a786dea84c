"""The import rules that keep the layers pointing one way, read from the source (every import,
including those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The core's layers, lowest first: a module may import its own layer and those below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("router.logging", "router.metrics", "router.constants", "router.roles", "router.netguard"),
    ("router.amqp",),
    ("router.config",),
    ("router.media",),
    ("router.history",),
    ("router.delivery", "router.replay"),
    ("router.http",),
    (
        "router.app",
        "router.apidoc",
        "router.bridge",
        "router.definitions",
        "router.cli",
        "router.dlqcmd",
        "router.replaycmd",
        "router.progress",
        "router.__main__",
    ),
)
PACKAGES = ("router", "adapters", "schemas")


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The project modules ``path`` imports, as dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def layer_of(module: str) -> int | None:
    for index, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return index
    return None


SOURCES = {
    module_of(path): imports_of(path)
    for package in PACKAGES
    for path in sorted((ROOT / package).rglob("*.py"))
}


def test_every_core_module_has_a_layer() -> None:
    core = [m for m in SOURCES if m.startswith("router.")]
    assert [m for m in core if layer_of(m) is None] == []


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if m.startswith("router.")))
def test_the_core_never_imports_a_layer_above(module: str) -> None:
    own = layer_of(module)
    assert own is not None
    above = sorted(
        name
        for name in SOURCES[module]
        if name.startswith("router.") and (layer_of(name) or 0) > own
    )
    assert above == [], f"{module} (layer {own}) imports {above}"


def test_the_core_never_imports_an_adapter() -> None:
    found = {m: sorted(n for n in i if n.startswith("adapters")) for m, i in SOURCES.items()}
    assert {m: n for m, n in found.items() if m.startswith("router") and n} == {}


def test_adapters_never_import_each_other() -> None:
    crossing = {}
    for module, names in SOURCES.items():
        if module.startswith("adapters."):
            own = module.split(".")[1]
            others = sorted(
                n for n in names if n.startswith("adapters.") and n.split(".")[1] != own
            )
            if others:
                crossing[module] = others
    assert crossing == {}


def test_the_data_contract_is_pure() -> None:
    found = {
        m: sorted(n for n in names if not n.startswith("schemas"))
        for m, names in SOURCES.items()
        if m.startswith("schemas")
    }
    assert {m: n for m, n in found.items() if n} == {}


def test_a_layer_above_is_seen() -> None:
    # The rule can fail: a delivery module importing the HTTP layer would be caught.
    assert (layer_of("router.http.ingest") or 0) > (layer_of("router.delivery.consumer") or 0)
    assert layer_of("router.amqp.broker") == 1
