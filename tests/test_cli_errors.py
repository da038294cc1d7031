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
        (["--latency-ms", "nan"], "argument --latency-ms: must be a finite number, got nan"),
        (["--retry-after", "inf"], "argument --retry-after: must be a finite number, got inf"),
        (["--latency-ms", "inf"], "argument --latency-ms: must be a finite number, got inf"),
        (["--drop-rate", "1.5"], "argument --drop-rate: must be between 0 and 1, got 1.5"),
        (["--drift-rate", "-0.1"], "argument --drift-rate: must be between 0 and 1, got -0.1"),
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


@pytest.mark.parametrize("path", ["/", "/v2/"])
def test_a_base_url_without_the_api_root_is_a_configuration_error(
    path: str,
    served: tuple[Simulator, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    """The portal answers the login 404 when the base URL misses ``/v1/``: that is the
    configuration (exit 2, and the message says what a base URL looks like), not a
    failed audit (exit 1, a bare 404)."""
    sim, base_url = served
    for name, value in sim.environment(base_url.removesuffix("/v1/") + path).items():
        monkeypatch.setenv(name, value)
    assert main(["audit", "--backend", backend]) == 2
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.startswith(f"cloutility: error: POST {base_url.removesuffix('/v1/')}{path}oauth")
    assert "-> 404" in line
    assert line.endswith(
        "(the base URL must be the API's root, such as "
        "https://portal-api.backup.sto2.safedc.net/v1/)"
    )
    assert sim.password not in err


def test_a_404_of_an_api_route_is_not_blamed_on_the_base_url(
    served: tuple[Simulator, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    """Once logged in, a 404 is the portal's answer about what was asked: exit 1, no hint."""
    sim, base_url = served
    for name, value in sim.environment(base_url).items():
        monkeypatch.setenv(name, value)
    sim.faults.inject("GET /fullVersion", 404)
    assert main(["version", "--portal", "--backend", backend]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"cloutility: error: GET {base_url}fullVersion -> 404")
    assert "base URL" not in line
