"""pytest fixtures for code that talks to Cloutility (registered as the ``cloutility`` plugin).

* ``cloutility_simulator``: a fresh :class:`~cloutility_async.testing.Simulator`.
* ``cloutility_server``: that simulator served on a loopback socket
  (:class:`SimulatorServer` with ``base_url`` and ``simulator``).
* ``cloutility_client``: a ready :class:`cloutility_async.Cloutility` talking to the
  simulator in-process, in strict mode (a body the models cannot read fails the
  test); use it from ``@pytest.mark.anyio`` tests.

This module is imported by every pytest run that has the package installed, so its
imports stay light: the simulator and the SDK load only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, NamedTuple

import pytest

if TYPE_CHECKING:
    from cloutility_async import Cloutility
    from cloutility_async.testing import Simulator

__all__ = [
    "SimulatorServer",
    "cloutility_client",
    "cloutility_server",
    "cloutility_simulator",
]


class SimulatorServer(NamedTuple):
    """A simulator listening on a loopback socket."""

    base_url: str
    simulator: Simulator


@pytest.fixture
def cloutility_simulator() -> Simulator:
    """A fresh simulated Cloutility portal (default world, demo credentials)."""
    from cloutility_async.testing import Simulator

    return Simulator()


@pytest.fixture
def cloutility_server(cloutility_simulator: Simulator) -> Iterator[SimulatorServer]:
    """The ``cloutility_simulator`` served by uvicorn on 127.0.0.1 in a background thread."""
    with cloutility_simulator.serve_in_thread(host="127.0.0.1", port=0) as base_url:
        yield SimulatorServer(base_url, cloutility_simulator)


@pytest.fixture
async def cloutility_client(
    cloutility_simulator: Simulator, anyio_backend: object
) -> AsyncIterator[Cloutility]:
    """A logged-in, strict SDK client wired to ``cloutility_simulator`` through ASGI.

    Strict: a value the models cannot read raises ``DecodeError`` instead of
    landing in ``unparsed``, so schema drift in the simulator fails the test.
    """
    from cloutility_async import Cloutility

    async with Cloutility(**cloutility_simulator.client_options(), strict=True) as api:
        yield api
