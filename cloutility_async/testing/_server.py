"""Serving the simulator over a real socket: a background thread, or the CLI.

``python -m cloutility_async.testing serve --port 0`` prints the connection details
and then a line ``READY http://127.0.0.1:<port>/v1/`` once the socket is listening.
``add_serve_arguments`` and ``run_from_args`` let other CLIs (``cloutility simulate``)
reuse the same options.
"""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from ._auth import DEMO_CLIENT_ID

__all__ = [
    "add_serve_arguments",
    "base_url_for",
    "bind_socket",
    "main",
    "make_server",
    "run_from_args",
    "serve_in_thread",
    "stats_url_for",
    "simulator_from_args",
]


class _CoalescingTransport:
    """Holds a response's first write (the head) until the next one (the body), so a small
    response leaves in one ``send()``: it halves the syscalls per request."""

    __slots__ = ("_pending", "_transport")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._pending: bytes | None = None

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            if data[9:10] == b"1":  # "HTTP/1.1 100 Continue": informational, send now
                self._transport.write(data)
            else:
                self._pending = bytes(data)
            return
        self._pending = b""
        self._transport.write(pending + data if pending else data)

    def _flush(self) -> None:
        if self._pending:
            self._transport.write(self._pending)
        self._pending = b""

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _protocol_class() -> type[Any]:
    """uvicorn's h11 protocol with two additions: a ``cloutility.abort`` scope extension,
    so the app can drop a connection without answering (uvicorn would otherwise send a
    500), and coalesced response writes."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DroppableH11Protocol(H11Protocol):
        def handle_events(self) -> None:
            super().handle_events()
            scope: dict[str, Any] | None = getattr(self, "scope", None)
            if scope is not None:
                extensions = scope.get("extensions")
                if extensions is None:
                    extensions = scope["extensions"] = {}
                if "cloutility.abort" not in extensions:
                    extensions["cloutility.abort"] = self.transport.abort
            cycle = getattr(self, "cycle", None)
            if cycle is not None and not isinstance(cycle.transport, _CoalescingTransport):
                cycle.transport = _CoalescingTransport(cycle.transport)

    return DroppableH11Protocol


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: the OS picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def base_url_for(host: str, port: int) -> str:
    """``http://host:port/v1/`` (IPv6 hosts bracketed)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1/"


def make_server(app: Any) -> Any:
    """A quiet uvicorn server for ``app`` (asyncio loop, h11, no lifespan, no access log)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        loop="asyncio",
        http=_protocol_class(),
        ws="none",
        lifespan="off",
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        backlog=2048,
        server_header=False,
        date_header=True,
    )
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Run ``app`` under uvicorn in a daemon thread; yield its ``/v1/`` base URL.

    Shuts the server down (``should_exit``) and joins the thread on exit.
    """
    sock = bind_socket(host, port)
    actual_port = sock.getsockname()[1]
    server = make_server(app)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # pragma: no cover - reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"cloutility-simulator-{actual_port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                cause = errors[0] if errors else None
                raise RuntimeError("the simulator server failed to start") from cause
            if time.monotonic() > deadline:
                raise TimeoutError("the simulator server did not start in time")
            time.sleep(0.002)
        yield base_url_for(host, actual_port)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


# -- command line --------------------------------------------------------------------------


def _number(
    kind: Callable[[str], float], what: str, low: float = 0, high: float | None = None
) -> Callable[[str], Any]:
    """An argparse type: ``kind`` of the text, from ``low`` (above it when ``low`` is a
    float) up to ``high``: ``--port 99999`` is a usage error, not a server's traceback."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not math.isfinite(value):  # float("nan") and float("inf") parse
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if isinstance(low, float) and value <= low:
            raise argparse.ArgumentTypeError(f"must be more than {low:g}, got {text}")
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    return parse


_PORT = _number(int, "a port number", 0, 65535)
_COUNT = _number(int, "a whole number")
_DELAY = _number(float, "a number")
_LIFETIME = _number(float, "a number of seconds", 0.0)
_FRACTION = _number(float, "a number", 0, 1)

# (flag, type, default, metavar, help) of each valued ``serve`` option.
_VALUED_OPTIONS: tuple[tuple[str, Callable[[str], Any], Any, str | None, str], ...] = (
    ("--host", str, "127.0.0.1", None, "interface to listen on"),
    ("--port", _PORT, 8080, None, "port; 0 picks a free one"),
    ("--client-id", str, DEMO_CLIENT_ID, None, "API client ID (GUID)"),
    ("--origin", str, "https://sim.example", None, "origin registered for the client ID"),
    ("--username", str, "demo", None, "the demo user's login"),
    ("--password", str, "demo-password", None, "the demo user's password"),
    ("--token-lifetime", _LIFETIME, 299.0, "SECONDS", "lifetime of access tokens"),
    ("--consumers", _COUNT, 40, "N", "consumption units to generate"),
    ("--seed", int, 0, None, "seed of the world, the random faults and the drift"),
    ("--latency-ms", _DELAY, 0.0, "MS", "delay before every answer"),
    ("--latency-jitter-ms", _DELAY, 0.0, "MS", "plus a uniform random delay up to this"),
    ("--rate-limit-rate", _FRACTION, 0.0, "FRACTION", "share of answers that are 429"),
    ("--retry-after", _DELAY, 1.0, "SECONDS", "Retry-After of those 429s"),
    ("--server-error-rate", _FRACTION, 0.0, "FRACTION", "share answered 502/503/504"),
    ("--drop-rate", _FRACTION, 0.0, "FRACTION", "share of connections dropped"),
    ("--html-error-rate", _FRACTION, 0.0, "FRACTION", "share answered with an HTML page"),
    ("--drift-rate", _FRACTION, 0.05, "FRACTION", "with --drift: chance each field deviates"),
)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` options (shared with ``cloutility simulate``); ``--help`` shows
    each default."""
    for flag, kind, default, metavar, text in _VALUED_OPTIONS:
        parser.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{text} (default: %(default)s)"
        )
    parser.add_argument(
        "--allow-refresh",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="allow refresh-token grants for the client ID (default: allowed)",
    )
    parser.add_argument(
        "--drift",
        action="store_true",
        help="send the deviations the vendor warns about, seeded by --seed (default: off)",
    )
    parser.add_argument(
        "--include-oauth",
        action="store_true",
        help="apply faults and latency to POST /v1/oauth too (default: off)",
    )


def simulator_from_args(args: argparse.Namespace) -> Any:
    """Build a :class:`Simulator` from parsed ``serve`` options."""
    from ._drift import Drift
    from ._faults import Faults
    from ._simulator import Simulator

    faults = Faults(
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after,
        server_error_rate=args.server_error_rate,
        drop_rate=args.drop_rate,
        html_error_rate=args.html_error_rate,
        include_oauth=args.include_oauth,
        seed=args.seed,
    )
    return Simulator(
        consumers=args.consumers,
        seed=args.seed,
        client_id=args.client_id,
        origin=args.origin,
        username=args.username,
        password=args.password,
        allow_refresh=args.allow_refresh,
        token_lifetime=args.token_lifetime,
        faults=faults,
        drift=Drift(enabled=args.drift, seed=args.seed, rate=args.drift_rate),
    )


def run_from_args(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Serve until SIGINT/SIGTERM; prints the details and a ``READY <url>`` line first."""
    stream = out if out is not None else sys.stdout
    stopping: list[Any] = []

    def on_signal(signum: int, frame: object) -> None:
        # Before uvicorn installs its own handlers (and when it re-raises the signal
        # that stopped it), a signal just asks the server to stop: exit status 0.
        stopping.append(signum)
        for server in servers:
            server.should_exit = True

    servers: list[Any] = []
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim = simulator_from_args(args)
        sock = bind_socket(args.host, args.port)
        try:
            url = base_url_for(args.host, sock.getsockname()[1])
            stream.write(_banner(sim, url, args))
            stream.flush()
            server = make_server(sim.app)
            servers.append(server)
            if stopping:
                server.should_exit = True
            server.run(sockets=[sock])
        finally:
            sock.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _banner(sim: Any, url: str, args: argparse.Namespace) -> str:
    """What ``serve`` prints: the details, ``export`` lines for a shell, then READY."""
    exports = "".join(
        f"export {name}={shlex.quote(value)}\n" for name, value in sim.environment(url).items()
    )
    return (
        "Cloutility simulator\n"
        f"  base URL:   {url}\n"
        f"  client ID:  {sim.client_id}\n"
        f"  origin:     {sim.origin}\n"
        f"  username:   {sim.username}\n"
        f"  password:   {sim.password}\n"
        f"  consumers:  {args.consumers} (seed {args.seed})\n"
        f"{_drift_line(sim.drift)}"
        f"  stats:      {stats_url_for(url)}\n"
        f"{exports}"
        f"READY {url}\n"
    )


def stats_url_for(base_url: str) -> str:
    """The admin stats route of a simulator served at ``base_url`` (``.../v1/``)."""
    return base_url.removesuffix("v1/") + "_simulator/stats"


def _drift_line(drift: Any) -> str:
    if not drift.enabled:
        return ""
    return f"  drift:      on (rate {drift.rate:g}, seed {drift.seed})\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m cloutility_async.testing serve [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m cloutility_async.testing",
        description="A simulated Cloutility REST API for tests and demos.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the simulator over HTTP",
        description="Serve the simulated portal on a loopback socket until Ctrl-C. It "
        "prints the connection details, export lines for CLOUTILITY_* variables, the "
        "stats URL (GET for the counters, DELETE to zero them) and a READY line.",
    )
    add_serve_arguments(serve)
    args = parser.parse_args(argv)
    return run_from_args(args)
