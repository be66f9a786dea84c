"""Adapters are found by name; the core never imports one at module level."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from router.app import enabled_adapters
from router.config.settings import Settings
from router.delivery import registry
from tests.support.adapter import ScriptedAdapter


@pytest.fixture
def registered() -> Iterator[None]:
    registry.register(
        "webhook", lambda s: ScriptedAdapter(name="webhook") if s.webhook.global_enabled else None
    )
    yield
    registry.unregister("webhook")


def test_a_registered_adapter_is_built_only_when_its_settings_enable_it(registered: None) -> None:
    assert "webhook" in registry.available()
    assert enabled_adapters(Settings.build()) == {}
    built = enabled_adapters(Settings.build(webhook={"global_enabled": True}))
    assert list(built) == ["webhook"]
    assert built["webhook"].name == "webhook"


def test_an_unknown_adapter_name_is_a_clear_error() -> None:
    with pytest.raises(registry.UnknownAdapter, match="no adapter named 'fax'"):
        registry.factory_for("fax")


def test_importing_the_core_imports_no_adapter() -> None:
    code = (
        "import sys, router.app, router.cli, router.delivery.consumer, router.http.ingest; "
        "print(sorted(m for m in sys.modules if m.startswith('adapters.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
