"""The frame every keeping-up client gets: RFC 6455's three length forms, built once."""

from __future__ import annotations

import struct

from adapters.websocket.hub import WireFrame


def test_wire_frame_headers() -> None:
    short = WireFrame(b"x" * 125).bytes()
    assert short[:2] == bytes([0x81, 125])
    assert short[2:] == b"x" * 125
    medium = WireFrame(b"y" * 126).bytes()
    assert medium[:4] == bytes([0x81, 126]) + struct.pack("!H", 126)
    assert len(medium) == 4 + 126
    long = WireFrame(b"z" * 65536).bytes()
    assert long[:10] == bytes([0x81, 127]) + struct.pack("!Q", 65536)
    assert len(long) == 10 + 65536


def test_built_once() -> None:
    frame = WireFrame(b"{}")
    assert frame.bytes() is frame.bytes()
