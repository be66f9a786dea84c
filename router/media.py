"""Media sent as base64, and the claim check that keeps large media out of the broker.

Evolution puts media in a message's ``message.base64``: in ``data`` itself, in each item of a
list, or in each item of ``data.messages`` (history sets). A WhatsApp video is tens of MB as
base64, over RabbitMQ 4's default message size (16 MiB). An event whose body is over
``ROUTER_MEDIA_CLAIM_BYTES`` has each such value stored aside under ``<event id>/<n>`` and
replaced by ``evrouter-media:<event id>/<n>`` (a claim); webhooks that want base64 get the
media put back, the others get the field removed as before. The store is a directory (the
default, nothing to install) or an S3-compatible bucket (``s3://bucket/prefix``), which every
host of the router reaches.

A body that large is not parsed whole: each long base64 string is cut out of it by position
first (``cut_media``), the rest is parsed, and the store is written from the body as read, so
the media is held once while the event is handled, not three times (the body, the parser's own
copy of it, the parsed string).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from router.config.settings import RouterSettings
from schemas import Envelope

CLAIM_PREFIX = "evrouter-media:"
CLAIM_MARK = CLAIM_PREFIX.encode()
WRITE_SLICE = 1024 * 1024
CUT_MIN = 4096

# A JSON string of base64 alone holds no escapes, so its bytes are its text; a string with
# any (``\/``) does not match and is parsed as usual.
_BASE64_STRING = re.compile(rb'"base64"\s*:\s*"([A-Za-z0-9+/=]{%d,})"' % CUT_MIN)

Media = str | memoryview


@dataclass(frozen=True)
class Cut:
    """A body with its long base64 strings cut out: ``text`` is what is parsed, each string
    replaced by a placeholder; ``spans`` gives each placeholder's bytes in ``raw``."""

    raw: bytes | bytearray
    text: bytes | bytearray
    spans: Mapping[str, memoryview] = field(default_factory=dict)


def cut_media(raw: bytes | bytearray, threshold: int) -> Cut:
    """``raw`` as it is up to ``threshold`` bytes; above, with each ``"base64": "<long>"``
    string cut out. A placeholder left where no media belongs is put back by ``claimed``."""
    if len(raw) <= threshold:
        return Cut(raw, raw)
    view, token = memoryview(raw), secrets.token_hex(8)
    pieces: list[bytes | memoryview] = []
    spans: dict[str, memoryview] = {}
    last = 0
    for number, found in enumerate(_BASE64_STRING.finditer(raw)):
        start, end = found.span(1)
        placeholder = f"evrouter-cut:{token}:{number}"
        pieces += [view[last:start], placeholder.encode()]
        spans[placeholder] = view[start:end]
        last = end
    if not spans:
        return Cut(raw, raw)
    pieces.append(view[last:])
    return Cut(raw, b"".join(pieces), spans)


def map_media(data: Any, change: Callable[[Any], Any | None]) -> Any:
    """``data`` with each ``message.base64`` value replaced by ``change(value)``, or removed
    where it gives None; the input is never changed."""
    if isinstance(data, list):
        return [map_media(item, change) for item in data]
    if not isinstance(data, dict):
        return data
    result = dict(data)
    message = result.get("message")
    if isinstance(message, dict) and "base64" in message:
        new = change(message["base64"])
        rest = {k: v for k, v in message.items() if k != "base64"}
        result["message"] = rest if new is None else {**rest, "base64": new}
    if isinstance(result.get("messages"), list):
        result["messages"] = map_media(result["messages"], change)
    return result


def strip_media(data: Any) -> Any:
    """``data`` without media sent as base64 (nor claims of it)."""
    return map_media(data, lambda _: None)


def claim_media(
    data: Any, event_id: str, spans: Mapping[str, memoryview] | None = None
) -> tuple[Any, dict[str, Media]]:
    """``data`` with every base64 value replaced by its claim, and the values by key; a value
    that is a placeholder of ``spans`` is that span of the body."""
    claimed: dict[str, Media] = {}
    numbers = itertools.count()
    spans = spans or {}

    def take(value: Any) -> Any:
        if not isinstance(value, str) or value.startswith(CLAIM_PREFIX):
            return value
        key = f"{event_id}/{next(numbers)}"
        claimed[key] = spans.get(value, value)
        return CLAIM_PREFIX + key

    return map_media(data, take), claimed


def put_back(value: Any, texts: Mapping[str, str]) -> Any:
    """``value`` with each string that is a key of ``texts`` replaced by its text, at any
    depth: for placeholders a cut left where no media belongs."""
    if isinstance(value, dict):
        return {k: put_back(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [put_back(v, texts) for v in value]
    return texts.get(value, value) if isinstance(value, str) else value


def drop_claims(data: Any) -> Any:
    """``data`` without claims (media sent as base64 stays): for destinations that cannot
    carry a video (SQS, Pusher) or are read by browsers (the WebSocket gateway), where a claim
    would be a string no consumer can decode, as if the platform had sent no base64."""
    return map_media(data, lambda value: None if is_claim(value) else value)


def without_claims(envelope: Envelope) -> Envelope:
    """``envelope`` with ``drop_claims`` applied; the same object when it holds none."""
    if not claims_in(envelope.data):
        return envelope
    return envelope.model_copy(update={"data": drop_claims(envelope.data)})


def is_claim(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(CLAIM_PREFIX)


def claims_in(data: Any) -> list[str]:
    found: list[str] = []

    def note(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(CLAIM_PREFIX):
            found.append(value.removeprefix(CLAIM_PREFIX))
        return value

    map_media(data, note)
    return found


class MediaStore(Protocol):
    async def put(self, key: str, content: bytes | memoryview) -> None: ...

    async def get(self, key: str) -> str: ...


async def restore_media(data: Any, store: MediaStore) -> Any:
    """``data`` with every claim replaced by the media it stands for."""
    keys = claims_in(data)
    if not keys:
        return data
    contents = {key: await store.get(key) for key in keys}

    def put_back(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(CLAIM_PREFIX):
            return contents[value.removeprefix(CLAIM_PREFIX)]
        return value

    return map_media(data, put_back)


class DirectoryStore:
    """Media as files under a directory: written whole, then renamed, so a reader never sees
    half a file, and synced before the event is published."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        event_id, _, number = key.partition("/")
        if not event_id or "/" in number or ".." in key or not number.isdigit():
            raise ValueError(f"not a media key: {key!r}")
        return self.root / event_id / number

    def _write(self, key: str, content: bytes | memoryview) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        view = memoryview(content)
        try:
            with os.fdopen(fd, "wb") as file:
                for start in range(0, len(view), WRITE_SLICE):
                    file.write(view[start : start + WRITE_SLICE])
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def put(self, key: str, content: bytes | memoryview) -> None:
        await asyncio.to_thread(self._write, key, content)

    async def get(self, key: str) -> str:
        return await asyncio.to_thread(self._path(key).read_text, "utf-8")


class S3Store:
    """Media as objects of an S3-compatible bucket, under a prefix."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix, client

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    async def put(self, key: str, content: bytes | memoryview) -> None:
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=bytes(content)
        )

    async def get(self, key: str) -> str:
        def read() -> str:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return str(answer["Body"].read().decode("utf-8"))

        return await asyncio.to_thread(read)


def open_media_store(limits: RouterSettings) -> MediaStore:
    """``ROUTER_MEDIA_STORE``: ``s3://bucket/prefix`` (credentials from the usual AWS
    variables), else a directory."""
    location = limits.media_store
    if location.startswith("s3://"):
        import boto3

        parts = urlsplit(location)
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        client = boto3.client(
            "s3",
            endpoint_url=limits.media_s3_endpoint_url or None,
            region_name=limits.media_s3_region or None,
        )
        return S3Store(parts.netloc, prefix, client)
    return DirectoryStore(Path(location))


async def claimed(envelope: Envelope, cut: Cut, threshold: int, store: MediaStore) -> Envelope:
    """``envelope`` (parsed from ``cut.text``) with its base64 media stored aside when its body
    is over ``threshold``; the media is stored before the event is published, so a claim on
    the broker always has its media. The keys come from the event id: a retried body claims
    the same."""
    if len(cut.raw) <= threshold:
        return envelope
    data, values = claim_media(envelope.data, envelope.id, cut.spans)
    claimed_spans = {id(value) for value in values.values()}
    if left := {p: bytes(v).decode() for p, v in cut.spans.items() if id(v) not in claimed_spans}:
        data = put_back(data, left)
    for key, value in values.items():
        await store.put(key, value.encode() if isinstance(value, str) else value)
    return envelope.model_copy(update={"data": data}) if values or left else envelope
