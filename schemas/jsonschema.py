"""JSON Schema of the envelope, for consumers written in other languages.

The schema file is generated from the model and kept in the repository; a test fails when
it is stale. Regenerate it with ``python -m schemas.jsonschema``.
"""

import json
from pathlib import Path
from typing import Any, Final

from schemas.envelope import Envelope

SCHEMA_PATH: Final = Path(__file__).with_name("envelope.schema.json")
_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
# No web home is promised for the schema, so it is named by a URN rather than a URL.
_SCHEMA_ID: Final = "urn:evrouter:schema:envelope"


def envelope_schema() -> dict[str, Any]:
    """The envelope's JSON Schema (draft 2020-12), describing envelopes as delivered."""
    schema = Envelope.model_json_schema()
    return {"$schema": _DIALECT, "$id": _SCHEMA_ID, **schema}


def render() -> str:
    """The schema as written to ``SCHEMA_PATH``; stable so diffs show real changes only."""
    return json.dumps(envelope_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
