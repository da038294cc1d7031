"""The simulator as ``python -m cloutility_async.testing serve`` runs it, plus a control route.

Same options, same uvicorn server (``make_server``), same ``READY <url>`` line. One
addition for the benchmarks: ``POST /_bench/config`` (JSON ``latency_ms``,
``include_oauth``, ``token_lifetime``) changes the faults and the token lifetime at run
time, and ``GET /_bench/stats`` returns the simulator's counters, so that one warmed-up
server (whose consumers' job and report histories are generated on first touch, at
about 3 ms of server CPU each) serves every scenario. Both answer loopback clients only.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from cloutility_async.testing._server import (
    add_serve_arguments,
    base_url_for,
    bind_socket,
    make_server,
    simulator_from_args,
)

LOOPBACK = {"127.0.0.1", "::1"}


class ControlledApp:
    """The simulator's ASGI app; ``/_bench/...`` is answered here, all else by the app."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.app = sim.app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/_bench/"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("", 0)
        if client[0] not in LOOPBACK:
            await _answer(send, 403, {"error": "loopback only"})
            return
        if scope["path"] == "/_bench/stats":
            await _answer(send, 200, self.sim.stats.snapshot())
            return
        if scope["path"] != "/_bench/config" or scope["method"] != "POST":
            await _answer(send, 404, {"error": "unknown control route"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        config = json.loads(body or b"{}")
        faults = self.sim.faults
        if "latency_ms" in config:
            faults.latency_ms = float(config["latency_ms"])
        if "include_oauth" in config:
            faults.include_oauth = bool(config["include_oauth"])
        if "token_lifetime" in config:
            self.sim.token_lifetime = float(config["token_lifetime"])
        await _answer(
            send,
            200,
            {
                "latency_ms": faults.latency_ms,
                "include_oauth": faults.include_oauth,
                "token_lifetime": self.sim.token_lifetime,
            },
        )


async def _answer(send: Any, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_serve_arguments(parser)
    parser.add_argument(
        "--keep-alive",
        type=float,
        default=600.0,
        help="seconds an idle connection stays open (uvicorn's default of 5 s would close"
        " the connections of a client slowed down by valgrind between two requests)",
    )
    args = parser.parse_args(argv)
    sim = simulator_from_args(args)
    sock = bind_socket(args.host, args.port)
    server = make_server(ControlledApp(sim))
    server.config.timeout_keep_alive = args.keep_alive

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    try:
        url = base_url_for(args.host, sock.getsockname()[1])
        sys.stdout.write(
            "Cloutility simulator (benchmark control routes on /_bench/)\n"
            f"  base URL:   {url}\n"
            f"  client ID:  {sim.client_id}\n"
            f"  origin:     {sim.origin}\n"
            f"  username:   {sim.username}\n"
            f"  password:   {sim.password}\n"
            f"  consumers:  {args.consumers} (seed {args.seed})\n"
            f"READY {url}\n"
        )
        sys.stdout.flush()
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
