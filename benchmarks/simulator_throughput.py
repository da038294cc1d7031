"""Throughput of the Cloutility simulator served by its CLI, driven over loopback.

Run: ``python benchmarks/simulator_throughput.py [--requests 5000] [--concurrency 64]``

For each scenario it starts ``python -m cloutility_async.testing serve --port 0`` as a
subprocess (waiting for its ``READY`` line), logs in once, then sends a bounded number of
GETs over a mix of routes with an aiohttp client at fixed concurrency.  It reports
requests/second, latency percentiles and the server process's CPU time (from
``/proc/<pid>/stat``), and writes everything to
``benchmarks/results/simulator_throughput.json``.  It also times the bare ASGI app
in-process (no sockets, no HTTP client) to show the simulator's own per-request cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "simulator_throughput.json"
CLIENT_ID = "3c1f1e9e-6b1a-4d0e-9f2b-5a7c8d9e0f11"
ORIGIN = "https://sim.example"
PATHS = [
    "fullVersion",
    "bunits/22/consumers/408",
    "bunits/22/consumers",
    "bunits/22",
    "bunits/22/consumers/408/node",
    "me",
]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_server(extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloutility_async.testing",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("READY "):
            return process, line.split(" ", 1)[1].strip()
    process.kill()
    raise RuntimeError("the simulator exited before printing READY")


def stop_server(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=15)
    if process.stdout is not None:
        process.stdout.close()
    return code


async def drive(base_url: str, requests: int, concurrency: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            base_url + "oauth",
            data={
                "client_id": CLIENT_ID,
                "grant_type": "password",
                "username": "demo",
                "password": "demo-password",
            },
            headers={"Origin": ORIGIN},
        ) as response:
            token = (await response.json())["access_token"]
        headers = {
            "Authorization": f"Bearer {token}",
            "Origin": ORIGIN,
            "Accept": "application/json",
        }
        # Warm up connections and lazily generated data.
        for path in PATHS:
            async with session.get(base_url + path, headers=headers) as response:
                await response.read()

        latencies: list[float] = []
        statuses: dict[int, int] = {}
        counter = iter(range(requests))

        async def worker() -> None:
            for i in counter:
                url = base_url + PATHS[i % len(PATHS)]
                started = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(requests / elapsed, 1),
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 2),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def scenario(name: str, extra: list[str], requests: int, concurrency: int) -> dict[str, Any]:
    process, base_url = start_server(extra)
    try:
        cpu_before = cpu_seconds(process.pid)
        result = asyncio.run(drive(base_url, requests, concurrency))
        cpu_used = cpu_seconds(process.pid) - cpu_before
    finally:
        exit_code = stop_server(process)
    result.update(
        {
            "scenario": name,
            "server_args": extra,
            "server_cpu_seconds": round(cpu_used, 3),
            "server_cpu_utilisation": round(cpu_used / result["seconds"], 3),
            "server_cpu_ms_per_request": round(cpu_used / result["requests"] * 1000, 3),
            "server_exit_code": exit_code,
        }
    )
    return result


def in_process(requests: int) -> dict[str, Any]:
    """The bare ASGI app called directly: the simulator's own cost per request."""
    from cloutility_async.testing import Simulator

    sim = Simulator()
    token = sim.issue_token().encode()
    sent: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    async def run() -> float:
        scopes = [
            {
                "type": "http",
                "method": "GET",
                "scheme": "http",
                "path": "/v1/" + path,
                "query_string": b"",
                "server": ("127.0.0.1", 80),
                "headers": [
                    (b"host", b"sim.test"),
                    (b"authorization", b"Bearer " + token),
                    (b"origin", ORIGIN.encode()),
                    (b"accept", b"application/json"),
                ],
            }
            for path in PATHS
        ]
        for scope in scopes:
            await sim.app(scope, receive, send)
        started = time.perf_counter()
        for i in range(requests):
            await sim.app(scopes[i % len(scopes)], receive, send)
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    assert set(sent) == {200}
    return {
        "scenario": "in-process ASGI app (no sockets, no client)",
        "requests": requests,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(requests / elapsed, 1),
        "us_per_request": round(elapsed / requests * 1e6, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    results = [
        in_process(20_000),
        scenario("latency 0 ms", ["--latency-ms", "0"], args.requests, args.concurrency),
        scenario("latency 20 ms", ["--latency-ms", "20"], args.requests, args.concurrency),
        scenario(
            "latency 0 ms, 50,000 consumers",
            ["--latency-ms", "0", "--consumers", "50000"],
            args.requests,
            args.concurrency,
        ),
    ]
    for r in results:
        line = f"{r['scenario']:<44} {r['requests_per_second']:>9.1f} req/s"
        if "server_cpu_seconds" in r:
            line += (
                f"  p50 {r['latency_ms_p50']:.1f} ms  p99 {r['latency_ms_p99']:.1f} ms"
                f"  server CPU {r['server_cpu_seconds']:.2f} s"
                f" ({r['server_cpu_ms_per_request']:.3f} ms/req)  statuses {r['statuses']}"
            )
        else:
            line += f"  ({r['us_per_request']} us/request)"
        print(line)
    report = {
        "benchmark": "simulator_throughput",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "routes": PATHS,
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
