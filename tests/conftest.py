"""Shared fixtures: every async test runs on asyncio and on trio.

The drift fuzzer's figure is printed in the terminal summary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# `nox -s tests` runs the whole suite once per backend by setting this; unset, both run.
BACKENDS = (
    [os.environ["CLOUTILITY_TEST_BACKEND"]]
    if os.environ.get("CLOUTILITY_TEST_BACKEND")
    else ["asyncio", "trio"]
)


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each `@pytest.mark.anyio` test once per anyio backend."""
    return str(request.param)


@pytest.fixture
def telemetry() -> Iterator[Any]:
    """The OpenTelemetry SDK with an in-memory span exporter and metric reader."""
    from telemetry import Telemetry

    found = Telemetry()
    yield found
    found.shutdown()


_DRIFT_FIGURES = pytest.StashKey[list[tuple[int, int]]]()


@pytest.fixture
def drift_figures(request: pytest.FixtureRequest) -> list[tuple[int, int]]:
    """Where the drift fuzzer puts (readable, drifted) per route run, for the summary."""
    return request.config.stash.setdefault(_DRIFT_FIGURES, [])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print "N of M drifted responses readable" when the drift fuzzer ran."""
    figures = config.stash.get(_DRIFT_FIGURES, [])
    if figures:
        readable = sum(n for n, _ in figures)
        drifted = sum(m for _, m in figures)
        terminalreporter.write_line(
            f"drift fuzzer: {readable} of {drifted} drifted responses readable"
            f" ({len(figures)} route runs)"
        )


pytest_plugins = ["pytester"]  # the pytest plugin's own tests run inner pytest sessions
