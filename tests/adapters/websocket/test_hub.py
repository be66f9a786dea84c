"""The frame every keeping-up client gets: RFC 6455's three length forms, built once; and the
Socket.IO packet of each namespace, read back by python-socketio's own parser."""

from __future__ import annotations

import struct

import orjson
import pytest
from socketio.packet import EVENT, Packet

from adapters.websocket.hub import WireFrame


def test_wire_frame_headers() -> None:
    short = WireFrame(b"x" * 125, "call").bytes()
    assert short[:2] == bytes([0x81, 125])
    assert short[2:] == b"x" * 125
    medium = WireFrame(b"y" * 126, "call").bytes()
    assert medium[:4] == bytes([0x81, 126]) + struct.pack("!H", 126)
    assert len(medium) == 4 + 126
    long = WireFrame(b"z" * 65536, "call").bytes()
    assert long[:10] == bytes([0x81, 127]) + struct.pack("!Q", 65536)
    assert len(long) == 10 + 65536


def test_built_once() -> None:
    frame = WireFrame(b"{}", "call")
    assert frame.bytes() is frame.bytes()


@pytest.mark.parametrize("namespace", ["/", "/shop", "/Loja%20Centro", "/joão@x.y"])
def test_socket_io_packets_carry_the_envelope_as_it_is(namespace: str) -> None:
    envelope = orjson.dumps({"id": "x", "event": "messages.upsert", "data": {"text": "olá \u2028"}})
    wire = WireFrame(envelope, "messages.upsert")
    message = wire.packet(namespace)
    assert message is wire.packet(namespace)
    assert message.encode().startswith("4")
    parsed = Packet(encoded_packet=message.data)
    assert parsed.packet_type == EVENT
    assert (parsed.namespace or "/") == namespace
    assert parsed.data == ["messages.upsert", orjson.loads(envelope)]
