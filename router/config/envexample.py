"""``.env.example`` rendered from the settings models, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from router.config.settings import FAMILIES, Family, event_field

HEADER = """\
# Every setting of the router, with its default. Names and defaults follow Evolution API, so an
# Evolution .env works unchanged. Copy to .env (read from the working directory) or set them in
# the environment; the environment wins. Regenerate with: router config --example > .env.example
"""


def env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_family(fam: type[Family]) -> list[str]:
    doc = (fam.__doc__ or fam.prefix).strip().splitlines()[0]
    lines = ["", f"# --- {doc}"]
    events = {event_field(k) for k in _catalog_keys()}
    for env_name, name, info in fam.env_names():
        if name in events:
            continue
        default = info.get_default(call_default_factory=True)
        lines.append(f"# {info.description}" if info.description else "#")
        lines.append(f"{env_name}={env_value(default)}")
    switch_names = [env for env, name, _ in fam.env_names() if name in events]
    if switch_names:
        lines.append(
            "# One switch per event (true/false); the alias spellings of the catalog work too."
        )
        lines.extend(f"{env}=false" for env in switch_names)
    return lines


def _catalog_keys() -> list[str]:
    from schemas import CATALOG

    return [e.key for e in CATALOG]


def render() -> str:
    lines = [HEADER.rstrip("\n")]
    for fam in FAMILIES.values():
        lines.extend(render_family(fam))
    return "\n".join(lines) + "\n"
