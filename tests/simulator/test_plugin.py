"""The pytest plugin's fixtures, run by pytester under anyio's plugin and under pytest-trio."""

from __future__ import annotations

import textwrap
from typing import Any

import httpx
import pytest

from cloutility_async.testing import FULL_VERSION, Simulator

from ._helpers import auth_headers

# The same test module runs once per plugin: MARK is how that plugin's tests are marked.
PLUGIN_MODES = {
    "anyio": "pytest.mark.anyio",
    "pytest-trio": "pytest.mark.trio",
}
# anyio's tests run on both of its backends, as the project's own do.
CONFTEST = """
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""
INI = """
[pytest]
filterwarnings = error
addopts = -p no:cacheprovider
"""
FIXTURE_TESTS = """
import pytest

from cloutility_async import Cloutility, ServerError

pytestmark = MARK


async def test_client_fixture_is_logged_in(cloutility_client, cloutility_simulator):
    assert await cloutility_client.full_version() == "FULL_VERSION"
    assert cloutility_simulator.stats.grants["password"] == 1


async def test_factory_turns_retries_off(cloutility_client_factory, cloutility_simulator):
    cloutility_simulator.faults.inject("GET /fullVersion", 503, times=1)
    async with cloutility_client_factory(max_retries=0) as api:
        with pytest.raises(ServerError):
            await api.full_version()
        assert api.statistics().retries == 0
        assert await api.full_version() == "FULL_VERSION"


async def test_factory_backoff_off_retries_at_once(cloutility_client_factory, cloutility_simulator):
    cloutility_simulator.faults.inject("GET /fullVersion", 503, times=2)
    async with cloutility_client_factory(backoff_base=0) as api:
        assert await api.full_version() == "FULL_VERSION"
        assert api.statistics().retries == 2


async def test_factory_short_tokens(cloutility_client_factory):
    seen = []
    async with cloutility_client_factory(token_lifetime=7, on_token=seen.append) as api:
        await api.full_version()
    assert [token.expires_in for token in seen] == [7]


async def test_factory_over_the_socket(cloutility_client_factory, cloutility_server):
    async with cloutility_client_factory(served=True) as api:
        assert await api.full_version() == "FULL_VERSION"
    assert cloutility_server.simulator.stats.requests["GET /fullVersion"] == 1


async def test_factory_clients_are_strict_unless_told(cloutility_client_factory):
    strict = cloutility_client_factory()
    tolerant = cloutility_client_factory(strict=False)
    assert isinstance(strict, Cloutility) and isinstance(tolerant, Cloutility)
    async with strict as api:
        assert await api.full_version() == "FULL_VERSION"


@pytest.mark.cloutility(consumers=3, drift=True)
async def test_marker_configures_the_simulator(cloutility_simulator, cloutility_client):
    assert len(cloutility_simulator.world.consumers) == 3 + 3  # three at the other company
    assert cloutility_simulator.drift.enabled
    assert await cloutility_client.full_version() == "FULL_VERSION"
""".replace("FULL_VERSION", FULL_VERSION)
STRICT_FAULT_TESTS = """
import pytest

pytestmark = MARK


@pytest.mark.cloutility(strict_faults=True)
async def test_unfired_fault_fails(cloutility_client, cloutility_simulator):
    cloutility_simulator.faults.inject("GET /bunits/*/consumers", 503)
    await cloutility_client.full_version()


@pytest.mark.cloutility(strict_faults=True)
async def test_fired_fault_passes(cloutility_client, cloutility_simulator):
    cloutility_simulator.faults.inject("GET /fullVersion", 503)
    await cloutility_client.full_version()


async def test_lenient_by_default(cloutility_client, cloutility_simulator):
    cloutility_simulator.faults.inject("GET /bunits/*/consumers", 503)
    await cloutility_client.full_version()
"""


def write_module(pytester: pytest.Pytester, mode: str, source: str) -> None:
    """The module with the plugin's marker, the conftest and a filterwarnings=error ini."""
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=textwrap.dedent(source).replace("MARK", PLUGIN_MODES[mode]))


@pytest.mark.parametrize("mode", PLUGIN_MODES)
def test_fixtures_work_under_each_plugin(pytester: pytest.Pytester, mode: str) -> None:
    """The client fixture and the factory pass under anyio's plugin and under pytest-trio
    (with filterwarnings = error): no `run() from inside a run()`."""
    write_module(pytester, mode, FIXTURE_TESTS)
    result = pytester.runpytest_subprocess()
    runs = 2 if mode == "anyio" else 1  # anyio's tests run on asyncio and on trio
    result.assert_outcomes(passed=7 * runs)


def test_trio_mode_runs_unmarked_tests(pytester: pytest.Pytester) -> None:
    """With pytest-trio's trio_mode, unmarked async tests get the fixtures too."""
    pytester.makeini(INI + "trio_mode = true\n")
    pytester.makepyfile(
        test_inner="""
        async def test_client(cloutility_client):
            assert await cloutility_client.full_version()
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


@pytest.mark.parametrize("mode", PLUGIN_MODES)
def test_strict_faults_fail_the_test_that_never_used_them(
    pytester: pytest.Pytester, mode: str
) -> None:
    """strict_faults: an injected fault that never fired is an error at teardown."""
    write_module(pytester, mode, STRICT_FAULT_TESTS)
    result = pytester.runpytest_subprocess()
    runs = 2 if mode == "anyio" else 1
    result.assert_outcomes(passed=3 * runs, errors=runs)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_unfired_fault_fails*"])
    result.stdout.fnmatch_lines(["*1 injected fault(s) never fired*GET /bunits/*/consumers*"])


def test_strict_faults_from_the_configuration(pytester: pytest.Pytester) -> None:
    """cloutility_strict_faults = true makes every test strict; the marker can opt out."""
    pytester.makeini(INI + "cloutility_strict_faults = true\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_inner="""
        import pytest

        def test_strict(cloutility_simulator):
            cloutility_simulator.faults.inject("GET /me", 500, times=2)

        @pytest.mark.cloutility(strict_faults=False)
        def test_opted_out(cloutility_simulator):
            cloutility_simulator.faults.inject("GET /me", 500)
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_strict*"])


def test_plugin_simulator_fixture(cloutility_simulator: Simulator) -> None:
    """The plugin's cloutility_simulator is a fresh default simulator."""
    assert cloutility_simulator.stats.requests_total == 0
    assert 408 in cloutility_simulator.world.consumers
    assert cloutility_simulator.faults.strict is False


def test_plugin_server_fixture(cloutility_server: Any) -> None:
    """cloutility_server serves the simulator on loopback."""
    sim = cloutility_server.simulator
    response = httpx.get(cloutility_server.base_url + "fullVersion", headers=auth_headers(sim))
    assert response.json() == FULL_VERSION
    assert sim.stats.requests["GET /fullVersion"] == 1


def test_unfired_faults_are_listed() -> None:
    """Faults.unfired: a rule with answers left, or a forever rule that never answered."""
    sim = Simulator(consumers=1)
    used = sim.faults.inject("GET /me", 500)
    partly = sim.faults.inject("GET /me", 503, times=3)
    forever = sim.faults.inject("GET /bunits", 502, times=None)
    assert sim.faults.unfired == [used, partly, forever]
    assert sim.faults.take_rule("GET", "/me", "/me", is_oauth=False) is used
    assert sim.faults.take_rule("GET", "/me", "/me", is_oauth=False) is partly
    assert sim.faults.unfired == [partly, forever]
    with pytest.raises(AssertionError, match="2 injected fault"):
        sim.faults.assert_all_fired()
    sim.faults.clear()
    sim.faults.assert_all_fired()
