"""``CLOUTILITY_LOG``: the switch that sends the SDK's records to stderr."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cloutility_async import ConfigurationError
from cloutility_async._logging import LOGGER_NAME, logging_to_stderr, setup_logging
from cloutility_async.testing import Simulator

SESSION = """
import anyio
from cloutility_async import Cloutility

async def main() -> None:
    async with Cloutility.from_env() as api:
        await api.full_version()
        await api.me()

anyio.run(main)
"""


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(consumers=5)
    with sim.serve_in_thread() as base_url:
        yield sim, base_url


def run_session(served: tuple[Simulator, str], **env: str) -> subprocess.CompletedProcess[str]:
    sim, base_url = served
    environ = {k: v for k, v in os.environ.items() if k != "CLOUTILITY_LOG"}
    environ.update(
        CLOUTILITY_CLIENT_ID=sim.client_id,
        CLOUTILITY_ORIGIN=sim.origin,
        CLOUTILITY_USERNAME=sim.username,
        CLOUTILITY_PASSWORD=sim.password,
        CLOUTILITY_BASE_URL=base_url,
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", SESSION],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_cloutility_log_debug_writes_every_request_without_secrets(
    served: tuple[Simulator, str],
) -> None:
    """``CLOUTILITY_LOG=debug`` in a fresh process: grant and requests on stderr, no secret."""
    done = run_session(served, CLOUTILITY_LOG="debug")
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert any("DEBUG" in line and "cloutility.token_granted" in line for line in lines)
    requests = [line for line in lines if "cloutility.request: GET" in line]
    assert len(requests) == 2, done.stderr
    assert all("Bearer ***" in line for line in requests)
    sim = served[0]
    secrets = [*sim.auth.tokens, *sim.auth.sessions, sim.password]
    assert not [secret for secret in secrets if secret in done.stderr]


def test_cloutility_log_info_leaves_out_debug_records(served: tuple[Simulator, str]) -> None:
    """``info`` keeps the per-request DEBUG lines out; unset, the SDK prints nothing."""
    assert "cloutility.request" not in run_session(served, CLOUTILITY_LOG="info").stderr
    assert run_session(served).stderr == ""


def test_a_bad_level_is_reported_and_logging_stays_off(served: tuple[Simulator, str]) -> None:
    """An unknown value does not break the import: one line says why it is ignored."""
    done = run_session(served, CLOUTILITY_LOG="verbose")
    assert done.stderr == (
        "CLOUTILITY_LOG must be one of debug, info, warning, got 'verbose'; logging stays off\n"
    )


def test_setup_logging_adds_one_handler_however_often_it_is_called(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Calling it twice re-levels the one handler; its records go to the current stderr."""
    logger = logging.getLogger(LOGGER_NAME)
    before, level = list(logger.handlers), logger.level
    with logging_to_stderr("warning"):
        first = setup_logging("info")
        assert setup_logging("debug") is first
        assert len(logger.handlers) == len(before) + 1
        logging.getLogger(f"{LOGGER_NAME}.test").debug("visible")
    logging.getLogger(f"{LOGGER_NAME}.test").debug("after")
    assert (logger.handlers, logger.level) == (before, level)
    err = capsys.readouterr().err
    assert "visible" in err
    assert "after" not in err


def test_the_formatter_masks_anything_that_looks_like_a_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Defence in depth: a bearer token or a password in a message is masked."""
    with logging_to_stderr("debug"):
        logging.getLogger(LOGGER_NAME).debug(
            "headers={'authorization': 'Bearer abc.def'} body=password=hunter2&x=1 "
            '{"refresh_token": "r-123", "access_token": "a-456"}'
        )
    err = capsys.readouterr().err
    for secret in ("abc.def", "hunter2", "r-123", "a-456"):
        assert secret not in err
    assert "Bearer ***" in err
    assert "password=***&x=1" in err


def test_a_bad_level_passed_in_code_raises() -> None:
    """``setup_logging("loud")`` is a ``ConfigurationError`` naming the choices."""
    with pytest.raises(ConfigurationError, match="debug, info, warning"):
        setup_logging("loud")
