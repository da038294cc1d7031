"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

import os

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
