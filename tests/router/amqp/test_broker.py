"""The broker supervisor: several URIs, the next one at once when one fails, and a reconnect
that never waits long once the broker answers again."""

from __future__ import annotations

import asyncio

import pytest

from router.amqp.broker import Broker, backoff_delay, mask_uris, parse_uris
from router.constants import BROKER_BACKOFF_MAX_SECONDS
from tests.support.process import free_port
from tests.support.proxy import TcpProxy


def test_uris_are_split_on_commas() -> None:
    assert parse_uris("amqp://a/, amqp://b:5673/ ,") == ("amqp://a/", "amqp://b:5673/")
    assert parse_uris(["amqp://a/"]) == ("amqp://a/",)
    with pytest.raises(ValueError, match="no AMQP URI"):
        parse_uris(" , ")


def test_every_uri_is_masked() -> None:
    assert (
        mask_uris(["amqp://u:secret@a/", "amqp://u:other@b/"]) == "amqp://u:***@a/,amqp://u:***@b/"
    )


def test_the_backoff_is_capped_near_a_second() -> None:
    delays = [backoff_delay(n, 0.2, BROKER_BACKOFF_MAX_SECONDS) for n in range(1, 40)]
    assert max(delays) <= BROKER_BACKOFF_MAX_SECONDS
    assert delays[0] <= 0.2


async def test_a_dead_uri_is_passed_over_for_the_next(amqp_url: str) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    broker = Broker(f"{dead},{amqp_url}", name="failover")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await broker.start()
    try:
        await broker.wait_ready(5)
        assert loop.time() - started < 1.0  # no backoff between the two
        assert broker.url == amqp_url
    finally:
        await broker.close()


async def test_a_lost_connection_goes_on_with_the_next_uri_at_once(amqp_url: str) -> None:
    proxies = [TcpProxy("127.0.0.1", 5672), TcpProxy("127.0.0.1", 5672)]
    for proxy in proxies:
        await proxy.start()
    uris = [f"amqp://guest:guest@127.0.0.1:{p.port}/" for p in proxies]
    broker = Broker(",".join(uris), name="failover")
    await broker.start()
    try:
        await broker.wait_ready(5)
        assert broker.url == uris[0]
        loop = asyncio.get_running_loop()
        lost_at = loop.time()
        await proxies[0].cut()  # the node we were on is gone
        async with asyncio.timeout(5):
            while not (broker.ready and broker.url == uris[1]):
                await asyncio.sleep(0.01)
        assert loop.time() - lost_at < 1.0
        assert broker.connects == 2
    finally:
        await broker.close()
        for proxy in proxies:
            await proxy.cut()


async def test_reconnects_within_two_seconds_of_the_broker_answering_again() -> None:
    proxy = TcpProxy("127.0.0.1", 5672)
    await proxy.start()
    broker = Broker(f"amqp://guest:guest@127.0.0.1:{proxy.port}/", name="comeback")
    await broker.start()
    try:
        await broker.wait_ready(5)
        await proxy.cut()
        await asyncio.sleep(8)  # down long enough for the backoff to reach its cap
        assert not broker.ready
        loop = asyncio.get_running_loop()
        await proxy.restore()
        answered = loop.time()
        await broker.wait_ready(5)
        assert loop.time() - answered < 2.0
    finally:
        await broker.close()
        await proxy.cut()
