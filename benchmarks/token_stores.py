"""Shared tokens: worker processes on 5-second tokens, with and without a token store.

Run: ``python benchmarks/token_stores.py`` (about 45 seconds; ``--help`` lists options).

Four scenarios run at the same time, each with its own simulator server (``_common``'s,
in its own process, so its grant counters are the scenario's alone) and its own
workers, fresh interpreters that each enter one ``Cloutility`` client and send paced
requests for ``--duration`` seconds:

  redis         the workers share a ``RedisTokenStore`` (a redis-server on loopback);
  file          the workers share a ``FileTokenStore`` (half on asyncio, half on trio);
  none          no store: each worker has its own token (``MemoryTokenStore``);
  redis-killed  as ``redis``, and its redis-server is killed (SIGKILL) a third of the
                way in: the workers go on with tokens of their own.

The figures: the simulator's successful grants by type, and the refresh bound, one
refresh per refresh interval (``min(refresh_margin, lifetime / 2)``) over the span from
the first login to the last worker's exit, plus one. Writes
``benchmarks/results/token_stores.json`` and ``.md``. No credential or token is written
anywhere: the workers get the credentials from the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, RESULTS_DIR, Server, machine, start_server

SCENARIOS = ("redis", "file", "none", "redis-killed")
STORE_OF = {"redis": "redis", "file": "file", "none": "none", "redis-killed": "redis"}
UNAVAILABLE = "cloutility.token_store_unavailable"


# -- the worker: one process, one client ------------------------------------------------


def worker_main(args: argparse.Namespace) -> int:
    """Enter one client with the given store, send paced requests, print a JSON line."""
    backend = args.backend
    if backend == "asyncio":
        import asyncio

        result = asyncio.run(_work(args))
    else:
        import trio

        result = trio.run(_work, args)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.unavailable = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(UNAVAILABLE):
            self.unavailable += 1


async def _work(args: argparse.Namespace) -> dict[str, Any]:
    import anyio

    from cloutility_async import Cloutility, CloutilityError, FileTokenStore, RedisTokenStore

    counter = _Counter()
    logging.getLogger("cloutility_async").addHandler(counter)
    redis_client: Any = None
    options: dict[str, Any] = {}
    if args.store == "redis":
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        # As the README advises: short timeouts and few retries, so an outage costs little.
        redis_client = redis.asyncio.Redis(
            host="127.0.0.1",
            port=args.redis_port,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(ExponentialBackoff(cap=0.5), retries=2),
        )
        options["token_store"] = RedisTokenStore(redis_client, key=args.key)
    elif args.store == "file":
        options["token_store"] = FileTokenStore(args.path)
    requests = failed = 0
    errors: dict[str, int] = {}
    try:
        async with Cloutility.from_env(**options) as api:
            logged_in = time.time()
            await anyio.Path(args.ready).touch()  # the Redis outage is timed from here
            deadline = anyio.current_time() + args.duration

            async def one() -> None:
                nonlocal requests, failed
                requests += 1
                try:
                    await api.full_version()
                except CloutilityError as exc:
                    failed += 1
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

            async with anyio.create_task_group() as tg:
                while anyio.current_time() < deadline:
                    tg.start_soon(one)
                    await anyio.sleep(1 / args.rate)
            stats = api.statistics()
        ended = time.time()
    finally:
        if redis_client is not None:
            await redis_client.aclose()
    return {
        "backend": args.backend,
        "logged_in": logged_in,
        "ended": ended,
        "requests": requests,
        "failed": failed,
        "errors": errors,
        "password_grants": stats.password_grants,
        "refresh_grants": stats.refresh_grants,
        "tokens_from_store": getattr(stats, "tokens_from_store", 0),
        "token_waits": stats.token_waits,
        "store_unavailable_warnings": counter.unavailable,
    }


# -- the orchestration ------------------------------------------------------------------


def _redis_server(workdir: Path) -> Any:
    sys.path.insert(0, str(REPO))
    from tests.redis_server import RedisServer

    return RedisServer(workdir)


class Scenario:
    """One simulator server and its workers (started together, collected together)."""

    def __init__(self, name: str, args: argparse.Namespace, workdir: Path) -> None:
        self.name = name
        self.store = STORE_OF[name]
        (workdir / name).mkdir()
        self.path = workdir / name / "token.json"
        self.processes: list[subprocess.Popen[str]] = []
        self.redis = None
        self.server: Server = start_server(consumers=5, token_lifetime=args.lifetime)
        try:
            self.redis = _redis_server(workdir / name) if self.store == "redis" else None
        except BaseException:
            self.server.stop()
            raise
        self.args = args
        self.redis_killed_at: float | None = None

    def spawn(self) -> None:
        for index in range(self.args.workers):
            backend = "trio" if self.store == "file" and index % 2 else "asyncio"
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "--store",
                self.store,
                "--backend",
                backend,
                "--duration",
                str(self.args.duration),
                "--rate",
                str(self.args.rate),
                "--path",
                str(self.path),
                "--key",
                f"bench:{self.name}:token",
                "--redis-port",
                str(self.redis.port if self.redis else 0),
                "--ready",
                str(self.ready_path(index)),
            ]
            self.processes.append(
                subprocess.Popen(
                    command,
                    env=self.server.env(),
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

    def ready_path(self, index: int) -> Path:
        return self.path.with_name(f"worker-{index}.ready")

    def kill_redis_after_logins(self) -> None:
        """Kill the redis-server a third of the run after every worker has logged in."""
        assert self.redis is not None
        deadline = time.monotonic() + 120
        while not all(self.ready_path(i).exists() for i in range(self.args.workers)):
            if time.monotonic() > deadline:
                return  # a worker never logged in: collect() reports its failure
            time.sleep(0.05)
        time.sleep(self.args.duration / 3)
        self.redis.kill()
        self.redis_killed_at = time.time()

    def collect(self) -> dict[str, Any]:
        workers = []
        for process in self.processes:
            out, err = process.communicate(timeout=self.args.duration + 120)
            if process.returncode != 0:
                raise RuntimeError(f"{self.name} worker failed ({process.returncode}):\n{err}")
            workers.append(json.loads(out.strip().splitlines()[-1]))
        grants = self.server.stats()["grants"]
        interval = min(self.args.refresh_margin, self.args.lifetime / 2)
        span = max(w["ended"] for w in workers) - min(w["logged_in"] for w in workers)
        return {
            "store": self.store,
            "workers": workers,
            "requests": sum(w["requests"] for w in workers),
            "failed_requests": sum(w["failed"] for w in workers),
            "password_grants": grants.get("password", 0),
            "refresh_grants": grants.get("refresh_token", 0),
            "refresh_interval_s": interval,
            "span_s": round(span, 2),
            "refresh_bound": math.floor(span / interval) + 1,
            "store_unavailable_warnings": sum(w["store_unavailable_warnings"] for w in workers),
            "redis_killed_after_first_login_s": (
                None
                if self.redis_killed_at is None
                else round(self.redis_killed_at - min(w["logged_in"] for w in workers), 1)
            ),
        }

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        if self.redis is not None:
            self.redis.stop()
        self.server.stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="token-stores-") as tmp:
        scenarios: list[Scenario] = []
        try:
            for name in args.scenarios:
                scenarios.append(Scenario(name, args, Path(tmp)))
            for scenario in scenarios:
                scenario.spawn()
            killer = None
            for scenario in scenarios:
                if scenario.name == "redis-killed":
                    killer = threading.Thread(target=scenario.kill_redis_after_logins)
                    killer.start()
            results = {scenario.name: scenario.collect() for scenario in scenarios}
            if killer is not None:
                killer.join()
        finally:
            for scenario in scenarios:
                scenario.close()
    return {
        "machine": machine(),
        "config": {
            "workers": args.workers,
            "duration_s": args.duration,
            "token_lifetime_s": args.lifetime,
            "refresh_margin_s": args.refresh_margin,
            "requests_per_second_per_worker": args.rate,
            "redis_killed_after_all_logins_s": round(args.duration / 3, 1),
        },
        "run_s": round(time.time() - started, 1),
        "scenarios": results,
    }


def markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = [
        f"{config['workers']} worker processes per scenario, {config['duration_s']:g} s each on"
        f" {config['token_lifetime_s']:g}-second tokens (refresh every"
        f" {min(config['refresh_margin_s'], config['token_lifetime_s'] / 2):g} s),"
        f" {config['requests_per_second_per_worker']:g} requests/s per worker; the four"
        f" scenarios ran at the same time, each on its own simulator server."
        f" Grants as the simulator counted them.",
        "",
        "| scenario | requests | failed | password grants | refresh grants"
        " | refresh bound | per worker (password/refresh) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in report["scenarios"].items():
        per_worker = ", ".join(
            f"{w['password_grants']}/{w['refresh_grants']}" for w in s["workers"]
        )
        lines.append(
            f"| {name} | {s['requests']:,} | {s['failed_requests']} | {s['password_grants']}"
            f" | {s['refresh_grants']} | {s['refresh_bound']} | {per_worker} |"
        )
    lines += [
        "",
        "Refresh bound: one refresh per refresh interval over the span from the first login"
        " to the last worker's exit, plus one. redis-killed: the redis-server was killed"
        f" (SIGKILL) {config['redis_killed_after_all_logins_s']:g} s after every worker had"
        " logged in; the workers logged"
        f" {report['scenarios'].get('redis-killed', {}).get('store_unavailable_warnings', 0)}"
        f" `{UNAVAILABLE}` warnings and went on with tokens of their own.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lifetime", type=float, default=5.0, help="token lifetime, seconds")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per worker")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "token_stores.json")
    # The worker's own options (``--worker``: run one client, print its JSON line).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", choices=("redis", "file", "none"), help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--redis-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.refresh_margin = 60.0  # the client's default (capped at half the lifetime)
    if args.worker:
        return worker_main(args)
    report = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    args.output.with_suffix(".md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
