"""The delivering processes' status: words merged without I/O (sums, the worst breaker, the
silent forgotten), and said and heard over the real broker, a reporter that stops being
forgotten once it has been silent past three intervals."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import pydantic
import pytest

from router.amqp.broker import Broker
from router.amqp.topology import status_exchange_name
from router.delivery.status import (
    ProcessState,
    ReceiverState,
    StatusBoard,
    StatusReporter,
    merged,
    receiver_of,
)
from schemas.instance_config import WebhookConfig
from tests.conftest import Cleanup


def receiver(name: str, breaker: str = "closed", **fields: object) -> ReceiverState:
    return ReceiverState.model_validate(
        {"receiver": name, "in_flight": 1, "waiting": 0, "breaker": breaker, **fields}
    )


def process(name: str, at: float, *receivers: ReceiverState, webhook: int = 1) -> ProcessState:
    return ProcessState(
        process=name, at=at, interval=5.0, in_flight={"webhook": webhook}, receivers=receivers
    )


def test_a_receiver_is_as_the_worst_off_process_sees_it() -> None:
    crm = "https://crm.example:443"
    found = merged(
        [
            process("a", 100.0, receiver(crm, latency_ms=20.0), receiver("http://ok:80")),
            process("b", 101.0, receiver(crm, "open", reopens_in=12.0, latency_ms=900.0)),
        ],
        now=105.0,
    )
    assert found["processes"] == 2
    assert found["in_flight"] == {"webhook": 2}
    receivers = found["receivers"]
    assert isinstance(receivers, list)
    assert receivers[0] == {
        "receiver": crm,
        "in_flight": 2,
        "waiting": 0,
        "breaker": "open",
        "reopens_in": 12.0,
        "latency_ms": 900.0,
    }
    assert receivers[1]["receiver"] == "http://ok:80"


def test_a_process_silent_for_three_intervals_is_forgotten() -> None:
    states = [process("quiet", 100.0, receiver("http://x:80", "open")), process("new", 114.0)]
    assert merged(states, now=115.0)["processes"] == 2  # 15 s: three intervals, not past
    later = merged(states, now=115.1)
    assert later["processes"] == 1
    assert later["receivers"] == []


def test_a_receiver_is_its_origin_with_the_port_spelled() -> None:
    assert receiver_of("https://u:pw@crm.example/hook/a") == "https://crm.example:443"
    assert receiver_of("http://127.0.0.1:8080/x?token=1") == "http://127.0.0.1:8080"


class Source:
    def __init__(self) -> None:
        self.states = [receiver("http://crm:80", "probing")]

    def receiver_states(self) -> list[ReceiverState]:
        return self.states


async def test_words_are_heard_and_a_stopped_reporter_is_forgotten(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    interval = 0.2
    listening = Broker(amqp_url, name="test-status-board")
    saying = Broker(amqp_url, name="test-status-reporter")
    board = StatusBoard(listening, exchange_name, interval)
    listening.add_setup(board.setup)
    reporter = StatusReporter(saying, exchange_name, lambda: {"webhook": 3}, [Source()], interval)
    saying.add_setup(reporter.setup)
    await listening.start()
    await saying.start()
    try:
        await listening.wait_ready(10)
        await saying.wait_ready(10)
        async with asyncio.timeout(5):
            while board.live()["processes"] == 0:
                await asyncio.sleep(0.05)
        heard = board.live()
        assert heard["in_flight"] == {"webhook": 3}
        assert heard["receivers"] == [
            {
                "receiver": "http://crm:80",
                "in_flight": 1,
                "waiting": 0,
                "breaker": "probing",
                "reopens_in": None,
                "latency_ms": None,
            }
        ]
        await reporter.close()
        await asyncio.sleep(3 * interval + 0.3)  # past three intervals of silence
        assert board.live()["processes"] == 0
    finally:
        await reporter.close()
        await saying.close()
        await listening.close()


async def test_a_bad_word_is_ignored_and_the_next_good_one_heard(
    amqp_url: str, exchange_name: str, cleanup: Cleanup
) -> None:
    listening = Broker(amqp_url, name="test-status-board")
    board = StatusBoard(listening, exchange_name, 1.0)
    listening.add_setup(board.setup)
    await listening.start()
    try:
        await listening.wait_ready(10)
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(status_exchange_name(exchange_name))
            await exchange.publish(aio_pika.Message(b"{not json"), "")
            good = process("p", time.time(), webhook=7).model_copy(update={"interval": 1.0})
            await exchange.publish(aio_pika.Message(good.model_dump_json().encode()), "")
        async with asyncio.timeout(5):
            while board.live()["processes"] == 0:
                await asyncio.sleep(0.05)
        assert board.live()["in_flight"] == {"webhook": 7}
    finally:
        await listening.close()


def test_a_url_stored_with_a_bad_port_still_has_a_receiver() -> None:
    assert receiver_of("http://crm.example:99999/h") == "http://crm.example"


@pytest.mark.parametrize("url", ["http://crm.example:99999/h", "http://crm.example:abc/h"])
def test_a_webhook_with_a_bad_port_is_refused(url: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="no valid port"):
        WebhookConfig(label="crm", url=url)
