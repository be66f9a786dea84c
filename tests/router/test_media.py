"""Media sent as base64: where Evolution puts it, the claim check, and the stores it is kept in
(a directory; an S3 bucket on moto_server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from router.media import (
    CLAIM_PREFIX,
    CUT_MIN,
    Cut,
    DirectoryStore,
    S3Store,
    claim_media,
    claimed,
    claims_in,
    cut_media,
    restore_media,
    strip_media,
)
from schemas import build_envelope
from tests.support.moto import CREDENTIALS, MotoServer

IMAGE = {"key": {"id": "3EB0"}, "message": {"imageMessage": {}, "base64": "AAAA"}}
LAYOUTS: list[Any] = [
    IMAGE,
    [IMAGE, {"message": {"conversation": "hi"}}],
    {"messages": [IMAGE, IMAGE]},
]


@pytest.mark.parametrize("data", LAYOUTS)
async def test_claimed_media_comes_back_whole_and_strips_like_media(
    data: Any, tmp_path: Path
) -> None:
    claimed_data, values = claim_media(data, "0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10")
    assert values
    assert set(values.values()) == {"AAAA"}
    assert "AAAA" not in str(claimed_data)
    assert claims_in(claimed_data) == list(values)
    store = DirectoryStore(tmp_path)
    for key, value in values.items():
        await store.put(key, str(value).encode())
    assert await restore_media(claimed_data, store) == data
    assert strip_media(claimed_data) == strip_media(data)
    assert claim_media(claimed_data, "other")[1] == {}  # a claim is never claimed again


async def test_only_bodies_over_the_threshold_are_claimed(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    envelope = build_envelope("inst", "messages.upsert", IMAGE)
    assert await claimed(envelope, cut_media(b"x" * 100, 1000), 1000, store) is envelope
    big = await claimed(envelope, cut_media(b"x" * 2000, 1000), 1000, store)
    assert big.id == envelope.id
    assert big.data["message"]["base64"] == f"{CLAIM_PREFIX}{envelope.id}/0"
    assert (tmp_path / envelope.id / "0").read_text() == "AAAA"


def media_text(size: int, start: str = "") -> str:
    return start + "QU/D" * (size // 4)


BIG_LAYOUTS: list[Any] = [
    {"message": {"base64": media_text(CUT_MIN)}},
    [{"message": {"base64": media_text(CUT_MIN * 2)}}, {"message": {"base64": "QUJD"}}],
    {"messages": [{"message": {"base64": media_text(CUT_MIN)}}] * 3},
    # a "base64" where Evolution puts no media, beside one where it does: kept as it was
    {"quoted": {"base64": media_text(CUT_MIN)}, "message": {"base64": media_text(CUT_MIN)}},
    # an escaped slash: not cut, parsed and claimed as before
    {"message": {"base64": media_text(CUT_MIN) + "/+="}},
]


@pytest.mark.parametrize("data", BIG_LAYOUTS)
@pytest.mark.parametrize("escape_slashes", [False, True])
async def test_a_cut_body_claims_what_a_parsed_one_claims(
    data: Any, escape_slashes: bool, tmp_path: Path
) -> None:
    raw = orjson.dumps({"event": "messages.upsert", "instance": "inst", "data": data})
    if escape_slashes:
        raw = raw.replace(b"/", b"\\/")  # as PHP's json_encode writes them
    cut = cut_media(bytearray(raw), 1000)
    assert bool(cut.spans) is not escape_slashes
    assert len(cut.text) < 1000 or escape_slashes
    envelope = build_envelope("inst", "messages.upsert", orjson.loads(cut.text)["data"])
    store = DirectoryStore(tmp_path)
    by_cut = await claimed(envelope, cut, 1000, store)
    whole = build_envelope("inst", "messages.upsert", orjson.loads(raw)["data"], id=envelope.id)
    by_parse = await claimed(whole, Cut(raw, raw), 1000, DirectoryStore(tmp_path / "parsed"))
    assert by_cut.data == by_parse.data
    assert "evrouter-cut:" not in orjson.dumps(by_cut.data).decode()
    assert await restore_media(by_cut.data, store) == orjson.loads(raw)["data"]


@pytest.mark.parametrize("key", ["../x/0", "a/b/c", "a/", "/0", "a/x"])
async def test_the_directory_store_takes_only_its_own_keys(key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a media key"):
        await DirectoryStore(tmp_path).put(key, b"AAAA")


async def test_the_s3_store_keeps_media_for_every_host(moto: MotoServer) -> None:
    client = boto3.session.Session().client("s3", endpoint_url=moto.url, **CREDENTIALS)
    client.create_bucket(Bucket="media")
    store = S3Store("media", "router/", client)
    await store.put("0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10/0", b"QUJD" * 1000)
    other_host = S3Store("media", "router/", client)
    assert await other_host.get("0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10/0") == "QUJD" * 1000
    listed = client.list_objects_v2(Bucket="media")["Contents"]
    assert [o["Key"] for o in listed] == ["router/0193b0c2-7c1e-7a4e-9f4e-2b1d8c1e5a10/0"]
