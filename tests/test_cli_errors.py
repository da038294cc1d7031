"""What the ``cloutility`` command says to a user who got something wrong: one line on
stderr naming the mistake, the exit status for a usage error, no traceback, no secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloutility_async.cli import main
from cloutility_async.testing import Simulator


@pytest.fixture
def backend(anyio_backend: str) -> str:
    """The anyio backend the command runs on (both, or the one nox selects)."""
    return anyio_backend


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator()
    with sim.serve_in_thread(host="127.0.0.1", port=0) as base_url:
        yield sim, base_url


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "99999"], "argument --port: must be between 0 and 65535, got 99999"),
        (["--port", "http"], "argument --port: not a port number: 'http'"),
        (["--consumers", "-1"], "argument --consumers: must be at least 0, got -1"),
        (["--token-lifetime", "0"], "argument --token-lifetime: must be more than 0, got 0"),
        (["--latency-ms", "-5"], "argument --latency-ms: must be at least 0, got -5"),
        (["--retry-after", "soon"], "argument --retry-after: not a number: 'soon'"),
    ],
)
def test_a_bad_simulate_option_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cloutility simulate --port 99999`` printed an OverflowError's traceback from the
    socket's bind (``--consumers -1`` a ValueError's from the world); a negative latency or
    a zero token lifetime was served as if it made sense."""
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"cloutility simulate: error: {message}"
    assert "Traceback" not in err


def test_the_simulate_options_in_range_still_parse() -> None:
    """The edges are allowed: port 0 (a free one), no consumers, no latency, short tokens."""
    from cloutility_async.cli import build_parser

    edges = ["--port", "0", "--consumers", "0", "--latency-ms", "0", "--token-lifetime", "0.5"]
    args = build_parser().parse_args(["simulate", *edges, "--retry-after", "0"])
    assert (args.port, args.consumers, args.latency_ms) == (0, 0, 0.0)
    assert (args.token_lifetime, args.retry_after) == (0.5, 0.0)
    assert build_parser().parse_args(["simulate", "--port", "65535"]).port == 65535
