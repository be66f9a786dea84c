from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.receiver import Receiver, running_receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for r in running_receiver():
        yield r


@pytest.fixture
async def other_receiver() -> AsyncIterator[Receiver]:
    async for r in running_receiver():
        yield r
