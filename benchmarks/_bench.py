"""Orchestration: one simulator server, its consumer list, and the clients run against it.

Each client runs in a fresh interpreter (``_worker.py``), natively or under a command
prefix (callgrind), so its CPU, memory and instructions are its own; the server runs
natively in its own process on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from _common import ENV_KEYS, REPO, ROOT, Server, start_server

WORKER = ROOT / "_worker.py"
AUDIT_ROUTES = ("", "/node", "/reports/latest", "/jobs")

#: Every client the benchmarks run: its label and the worker's arguments.
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sdk": ("SDK (cloutility-async)", ("sdk",)),
    "sdk-no-orjson": ("SDK, orjson not importable", ("sdk", "--without", "orjson")),
    "sdk-trio": ("SDK on trio", ("sdk", "--backend", "trio")),
    "sdk-httpx": ("SDK with httpx's transport", ("sdk", "--transport", "httpx")),
    "sdk-otel": ("SDK with OpenTelemetryHooks", ("sdk", "--otel")),
    "aiohttp": ("raw aiohttp + json", ("aiohttp",)),
    "aiohttp-orjson": ("raw aiohttp + orjson", ("aiohttp", "--parser", "orjson")),
    "httpx": ("raw httpx (default transport)", ("httpx",)),
    "requests": ("reference: requests, sequential", ("requests",)),
    "churn": ("SDK, paced, short-lived tokens", ("churn",)),
    "stream": ("SDK streaming audit", ("stream",)),
    "models": ("SDK models vs dicts", ("models",)),
}

Log = Callable[[str], None]


def label(kind: str) -> str:
    return CLIENTS[kind][0]


async def prepare(server: Server, concurrency: int, warm: int) -> dict[str, Any]:
    """The consumer list (the tree, then each unit's consumers), and one untimed pass over
    the first ``warm`` consumers' audit URLs, so that the simulator has generated their
    job and report histories before anything is measured."""
    import aiohttp

    env = server.env()
    creds = {key: env[var] for key, var in ENV_KEYS.items()}
    base = server.base_url
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async with s.post(
            base + "oauth",
            data={
                "client_id": creds["client_id"],
                "grant_type": "password",
                "username": creds["username"],
                "password": creds["password"],
            },
            headers={"Origin": creds["origin"]},
        ) as response:
            token = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Origin": creds["origin"]}
        sem = asyncio.Semaphore(concurrency)

        async def get(url: str) -> tuple[int, Any]:
            async with sem, s.get(url, headers=headers) as response:
                body = await response.read()
                return response.status, json.loads(body) if body else None

        _, tree = await get(base + "bunits")
        units: list[int] = []
        stack = [tree]
        while stack:
            unit = stack.pop()
            units.append(unit["id"])
            stack.extend(reversed(unit.get("businessUnits") or []))
        lists = await asyncio.gather(*(get(f"{base}bunits/{u}/consumers") for u in units))
        pairs = [
            (unit, item["id"])
            for unit, (_, body) in zip(units, lists, strict=True)
            for item in body["items"]
        ]
        statuses: dict[str, int] = {}
        urls = [f"{base}bunits/{b}/consumers/{c}{r}" for b, c in pairs[:warm] for r in AUDIT_ROUTES]
        for status, _ in await asyncio.gather(*(get(u) for u in urls)):
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"pairs": pairs, "units": len(units), "warm_statuses": statuses}


class Bench:
    """One simulator server (started on first use) and its consumer list."""

    def __init__(self, *, consumers: int, warm: int, concurrency: int, log: Log) -> None:
        self.consumers = consumers
        self.warm = warm
        self.concurrency = concurrency
        self.log = log
        self.server: Server | None = None
        self.pairs: list[tuple[int, int]] = []
        self._files: dict[int, str] = {}

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self._files.values():
            os.unlink(name)
        if self.server is not None:
            self.server.stop()

    def start(self) -> Server:
        if self.server is None:
            started = time.perf_counter()
            self.server = start_server(consumers=self.consumers)
            prep = asyncio.run(prepare(self.server, 4 * self.concurrency, self.warm))
            self.pairs = prep["pairs"]
            self.log(
                f"  simulator: {self.consumers:,} consumers in {prep['units']} units; warmed"
                f" {self.warm:,} ({prep['warm_statuses']}) in"
                f" {time.perf_counter() - started:.1f} s"
            )
        return self.server

    def pairs_file(self, count: int) -> str:
        if count > len(self.pairs):
            raise ValueError(f"{count} consumers asked for, the simulator has {len(self.pairs)}")
        if count not in self._files:
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - removed in __exit__
                "w", suffix=".json", prefix="bench_pairs_", delete=False
            )
            with handle:
                json.dump(self.pairs[:count], handle)
            self._files[count] = handle.name
        return self._files[count]

    def run(
        self,
        kind: str,
        consumers: int,
        *,
        concurrency: int | None = None,
        extra: Sequence[str] = (),
        timeout: float = 300,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Run client ``kind`` on the first ``consumers`` consumers; its JSON result, with
        the simulator's CPU seconds during the run and the client's name added.

        ``prefix`` goes before the interpreter (``valgrind ...``); ``env`` is added to
        the worker's environment (``PYTHONPATH`` of another SDK tree, say).
        """
        server = self.start()
        argv = [
            *CLIENTS[kind][1],
            "--pairs", self.pairs_file(consumers),
            "--concurrency", str(concurrency or self.concurrency),
            *extra,
        ]  # fmt: skip
        worker_env = server.env()
        worker_env.update(env or {})
        cpu_before = server.cpu_seconds()
        result = run_worker(argv, worker_env, timeout, prefix=prefix)
        result["server_cpu_s"] = server.cpu_seconds() - cpu_before
        result["client"] = kind
        return result


_RUNNING: set[subprocess.Popen[str]] = set()  # workers under way, for stop_workers()


def run_worker(
    argv: Sequence[str], env: dict[str, str], timeout: float, *, prefix: Sequence[str] = ()
) -> Any:
    """Run ``_worker.py argv`` in a fresh interpreter; its last stdout line is its result."""
    with subprocess.Popen(
        [*prefix, sys.executable, str(WORKER), *argv],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        _RUNNING.add(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            process.kill()
            raise
        finally:
            _RUNNING.discard(process)
    if process.returncode != 0:
        raise RuntimeError(
            f"worker {list(argv)[:3]} failed ({process.returncode}):\n{stderr[-3000:]}"
        )
    return json.loads(stdout.strip().splitlines()[-1])


def stop_workers() -> None:
    """Kill every worker still running (a run being aborted from another thread)."""
    for process in list(_RUNNING):
        process.kill()


def brief(r: dict[str, Any]) -> str:
    """One log line for a native run."""
    return (
        f"{r['requests']:>6} req  wall {r['wall_s']:6.2f} s  CPU {r['cpu_ms_per_request']:.3f}"
        f" ms/req  {r['requests_per_s']:6.0f} req/s  peak {r['peak_rss_mb']:5.1f} MB"
        f"  server CPU {r['server_cpu_s']:.2f} s  failed {r['failed_audits']}"
    )
