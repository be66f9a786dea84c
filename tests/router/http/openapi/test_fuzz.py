"""Schemathesis over the API document against a running router on the real RabbitMQ: no
answer is a server error, and none breaks the document (status, content type, headers, body
schema), for valid requests and for requests built to break every rule the document states.

Bounded for CI (ROUTER_FUZZ_EXAMPLES per operation, 25 here); ``bench/fuzz.py`` runs it longer.
The roles that deliver do not run: webhooks the fuzzer sets would be called at made-up hosts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from tests.conftest import delete_declared
from tests.support.process import clean_env, free_port

ROOT = Path(__file__).resolve().parents[4]
KEY = f"fuzz-{uuid.uuid4().hex}"
EXAMPLES = int(os.environ.get("ROUTER_FUZZ_EXAMPLES", "25"))
ROUTER = (sys.executable, "-m", "router", "--env-file", "/dev/null")
SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")


def ndjson(_: schemathesis.SerializationContext, value: Any) -> bytes:
    """A batch as NDJSON: the document gives its events as an array, one per line here."""
    items = value if isinstance(value, list) else [value]
    # json, not orjson: the fuzzer's integers may pass 64 bits, which JSON allows.
    return "".join(json.dumps(item) + "\n" for item in items).encode()


schemathesis.serializer("application/x-ndjson")(ndjson)


def declared(env: dict[str, str]) -> tuple[list[str], list[str]]:
    """The queues and exchanges the settings imply, from the router itself."""
    done = subprocess.run(
        [*ROUTER, "topology", "--definitions"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    definitions = json.loads(done.stdout)
    return [q["name"] for q in definitions["queues"]], [e["name"] for e in definitions["exchanges"]]


def wait_ready(base: str, proc: subprocess.Popen[bytes], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise AssertionError("the router exited before it was ready")
        time.sleep(0.1)
    raise AssertionError("the router was not ready in time")


@pytest.fixture(scope="module")
def router_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exchange = f"test-fuzz-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = clean_env(
        RABBITMQ_EXCHANGE_NAME=exchange,
        AUTHENTICATION_API_KEY=KEY,
        SERVER_PORT=str(port),
        SERVER_HOST="127.0.0.1",
        WEBHOOK_GLOBAL_ENABLED="true",
        WEBHOOK_GLOBAL_URL="http://127.0.0.1:9/never",
        WEBSOCKET_ENABLED="true",
        WEBSOCKET_GLOBAL_EVENTS="true",
        LOG_FORMAT="json",
    )
    log = (tmp_path_factory.mktemp("fuzz") / "router.log").open("wb")
    proc = subprocess.Popen(
        [*ROUTER, "run", "--only", "ingest", "--only", "websocket"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        queues, exchanges = declared(env)
        asyncio.run(delete_declared([*queues, f"{exchange}.websocket"], exchanges))


def test_the_router_serves_the_document_it_is_fuzzed_over(router_url: str) -> None:
    with urllib.request.urlopen(f"{router_url}/openapi.json", timeout=5) as response:
        served = json.load(response)
    assert served == json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_gets_a_server_error_or_an_answer_the_document_does_not_allow(
    case: schemathesis.Case[Any], router_url: str
) -> None:
    # A valid request may still be refused for what the document cannot know: a webhook that
    # does not exist yet, an event name in a spelling only the catalog knows.
    case.call_and_validate(
        base_url=router_url,
        headers={"apikey": KEY},
        excluded_checks=[positive_data_acceptance],
        timeout=30,
    )
