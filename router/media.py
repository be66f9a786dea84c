"""Media sent as base64, and the claim check that keeps large media out of the broker.

Evolution puts media in a message's ``message.base64``: in ``data`` itself, in each item of a
list, or in each item of ``data.messages`` (history sets). A WhatsApp video is tens of MB as
base64, over RabbitMQ 4's default message size (16 MiB). An event whose body is over
``ROUTER_MEDIA_CLAIM_BYTES`` has each such value stored aside under ``<event id>/<n>`` and
replaced by ``evrouter-media:<event id>/<n>`` (a claim); webhooks that want base64 get the
media put back, the others get the field removed as before. The store is a directory (the
default, nothing to install) or an S3-compatible bucket (``s3://bucket/prefix``), which every
host of the router reaches.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from router.settings import RouterSettings
from schemas import Envelope

CLAIM_PREFIX = "evrouter-media:"
WRITE_SLICE = 1024 * 1024


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


def claim_media(data: Any, event_id: str) -> tuple[Any, dict[str, str]]:
    """``data`` with every base64 value replaced by its claim, and the values by key."""
    claimed: dict[str, str] = {}
    numbers = itertools.count()

    def take(value: Any) -> Any:
        if not isinstance(value, str) or value.startswith(CLAIM_PREFIX):
            return value
        key = f"{event_id}/{next(numbers)}"
        claimed[key] = value
        return CLAIM_PREFIX + key

    return map_media(data, take), claimed


def claims_in(data: Any) -> list[str]:
    found: list[str] = []

    def note(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(CLAIM_PREFIX):
            found.append(value.removeprefix(CLAIM_PREFIX))
        return value

    map_media(data, note)
    return found


class MediaStore(Protocol):
    async def put(self, key: str, content: str) -> None: ...

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

    def _write(self, key: str, content: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                # In slices: the whole text encoded at once would be one more copy of a video.
                for start in range(0, len(content), WRITE_SLICE):
                    file.write(content[start : start + WRITE_SLICE])
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def put(self, key: str, content: str) -> None:
        await asyncio.to_thread(self._write, key, content)

    async def get(self, key: str) -> str:
        return await asyncio.to_thread(self._path(key).read_text, "utf-8")


class S3Store:
    """Media as objects of an S3-compatible bucket, under a prefix."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix, client

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    async def put(self, key: str, content: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=content.encode()
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


async def claimed(envelope: Envelope, size: int, threshold: int, store: MediaStore) -> Envelope:
    """``envelope`` with its base64 media stored aside when its body (``size`` bytes) is over
    ``threshold``; the media is stored before the event is published, so a claim on the broker
    always has its media. The keys come from the event id: a retried body claims the same."""
    if size <= threshold:
        return envelope
    data, values = claim_media(envelope.data, envelope.id)
    for key, value in values.items():
        await store.put(key, value)
    return envelope.model_copy(update={"data": data}) if values else envelope
