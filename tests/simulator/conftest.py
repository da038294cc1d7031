"""Fixtures for the simulator tests: a fresh simulator and a logged-in httpx client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cloutility_async.testing import Simulator

from ._helpers import open_client


@pytest.fixture
def sim() -> Simulator:
    """A fresh default simulator."""
    return Simulator()


@pytest.fixture
async def http(sim: Simulator, anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in httpx client on ``sim`` in-process."""
    async with open_client(sim) as client:
        yield client
