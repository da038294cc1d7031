"""pytest fixtures for code that talks to Cloutility (registered as the ``cloutility`` plugin).

* ``cloutility_simulator``: a fresh :class:`~cloutility_async.testing.Simulator`.
  ``@pytest.mark.cloutility(consumers=10, drift=True, ...)`` passes options to it;
  ``strict_faults=True`` there (or ``cloutility_strict_faults = true`` in the pytest
  configuration) fails the test at teardown if a fault injected with
  ``faults.inject()`` was never used, as pytest-httpx does.
* ``cloutility_server``: that simulator served on a loopback socket
  (:class:`SimulatorServer` with ``base_url`` and ``simulator``).
* ``cloutility_client``: a logged-in, strict :class:`cloutility_async.Cloutility`
  talking to the simulator in-process.
* ``cloutility_client_factory``: builds more clients, configured:
  ``async with cloutility_client_factory(max_retries=0, backoff_base=0) as api:``.

The async fixture works under anyio's pytest plugin (``@pytest.mark.anyio``) and
under pytest-trio (``@pytest.mark.trio`` or ``trio_mode``): it asks for no backend
fixture, so whichever plugin runs the test runs it.

This module is imported by every pytest run that has the package installed, so its
imports stay light: the simulator and the SDK load only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import pytest

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from cloutility_async import ClientOptions, Cloutility
    from cloutility_async.testing import Simulator

__all__ = [
    "ClientFactory",
    "SimulatorServer",
    "cloutility_client",
    "cloutility_client_factory",
    "cloutility_server",
    "cloutility_simulator",
]

_STRICT_FAULTS_INI = "cloutility_strict_faults"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``cloutility_strict_faults`` setting."""
    parser.addini(
        _STRICT_FAULTS_INI,
        "fail a test whose faults injected into cloutility_simulator never fired",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cloutility`` marker."""
    config.addinivalue_line(
        "markers",
        "cloutility(strict_faults=None, **simulator_options): options for the "
        "cloutility_simulator fixture",
    )


class SimulatorServer(NamedTuple):
    """A simulator listening on a loopback socket."""

    base_url: str
    simulator: Simulator


class ClientFactory(Protocol):
    """``cloutility_client_factory``: an unopened client bound to the test's simulator."""

    def __call__(
        self,
        *,
        served: bool = False,
        token_lifetime: float | None = None,
        **options: Unpack[ClientOptions],
    ) -> Cloutility:
        """A strict client for ``cloutility_simulator`` (in-process, or over the socket of
        ``cloutility_server`` with ``served=True``); ``options`` go to ``Cloutility``
        (``max_retries=0``, ``backoff_base=0``, ``strict=False``, ...);
        ``token_lifetime`` makes the simulator's tokens that short."""
        ...


@pytest.fixture
def cloutility_simulator(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A fresh simulated Cloutility portal (default world, demo credentials)."""
    from cloutility_async.testing import Simulator

    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("cloutility"))):
        options.update(marker.kwargs)  # the closest marker wins
    strict = options.pop("strict_faults", None)
    sim = Simulator(**options)
    sim.faults.strict = bool(
        request.config.getini(_STRICT_FAULTS_INI) if strict is None else strict
    )
    yield sim
    if sim.faults.strict:
        sim.faults.assert_all_fired()


@pytest.fixture
def cloutility_server(cloutility_simulator: Simulator) -> Iterator[SimulatorServer]:
    """The ``cloutility_simulator`` served by uvicorn on 127.0.0.1 in a background thread."""
    with cloutility_simulator.serve_in_thread(host="127.0.0.1", port=0) as base_url:
        yield SimulatorServer(base_url, cloutility_simulator)


@pytest.fixture
async def cloutility_client(cloutility_simulator: Simulator) -> AsyncIterator[Cloutility]:
    """A logged-in, strict SDK client wired to ``cloutility_simulator`` through ASGI.

    Strict: a value the models cannot read raises ``DecodeError`` instead of
    landing in ``unparsed``, so schema drift in the simulator fails the test.
    """
    from cloutility_async import Cloutility

    async with Cloutility(**cloutility_simulator.client_options(), strict=True) as api:
        yield api


@pytest.fixture
def cloutility_client_factory(
    request: pytest.FixtureRequest, cloutility_simulator: Simulator
) -> ClientFactory:
    """Build configured clients for ``cloutility_simulator``; open each with ``async with``."""
    from cloutility_async import Cloutility

    def make(
        *,
        served: bool = False,
        token_lifetime: float | None = None,
        **options: Unpack[ClientOptions],
    ) -> Cloutility:
        if token_lifetime is not None:
            cloutility_simulator.token_lifetime = token_lifetime
        base_url = None
        if served:
            server: SimulatorServer = request.getfixturevalue("cloutility_server")
            base_url = server.base_url
        settings: dict[str, Any] = {**cloutility_simulator.client_options(base_url), "strict": True}
        return Cloutility(**{**settings, **options})

    return make
