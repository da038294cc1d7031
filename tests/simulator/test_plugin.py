"""The pytest plugin's fixtures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloutility_async.testing import (
    FULL_VERSION,
    Simulator,
)

from ._helpers import auth_headers

pytestmark = pytest.mark.anyio


def test_plugin_simulator_fixture(cloutility_simulator: Simulator) -> None:
    """The plugin's cloutility_simulator is a fresh default simulator."""
    assert cloutility_simulator.stats.requests_total == 0
    assert 408 in cloutility_simulator.world.consumers


def test_plugin_server_fixture(cloutility_server: Any) -> None:
    """cloutility_server serves the simulator on loopback."""
    sim = cloutility_server.simulator
    response = httpx.get(cloutility_server.base_url + "fullVersion", headers=auth_headers(sim))
    assert response.json() == FULL_VERSION
    assert sim.stats.requests["GET /fullVersion"] == 1
