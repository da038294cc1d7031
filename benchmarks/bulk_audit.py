"""Bulk audits through the SDK, raw aiohttp, raw httpx and the reference's sequential script.

Run: ``python benchmarks/bulk_audit.py`` (about 2.5 minutes on 2 cores; ``--quick``: a
smoke run of under 40 seconds, the mode a test or CI would call).  ``--help`` lists sizes.

The audit: for every consumer, ``GET .../consumers/{c}``, ``.../node``,
``.../reports/latest`` and ``.../jobs`` (4 requests; a 404 for a consumer without a node
or a report counts as an answer).  The simulator runs as a real server on loopback in its
own process (``_simserver.py``: ``python -m cloutility_async.testing serve`` plus a route
to change its latency and token lifetime between scenarios), warmed up once.  Every
client runs in a fresh interpreter, so its CPU seconds (``time.process_time()`` around
the timed part only) and peak RSS (``VmHWM``) are its own.  Every client gets the
consumer list up front; only the 4 x N audit requests are timed.  Within a scenario the
clients alternate (SDK, aiohttp, httpx; aiohttp, httpx, SDK; ...), figures are medians of
the rounds, and ratios are taken within a round (side by side).

Scenarios:
  cpu      no latency, 64 requests in flight: client CPU per request of every client.
  latency  20 ms server latency, 64 in flight: wall time against requests x latency / 64.
  churn    5 s tokens during a 30 s paced run: grants, token waits, latency percentiles
           inside and outside refresh windows.
  memory   streaming audit (walk_consumers + map, nothing kept) of 20,000 consumers:
           peak RSS growth at 5,000 and at 20,000.
  import   ``python -X importtime -c "import cloutility_async"``.

Writes ``benchmarks/results/bulk_audit.json`` (``bulk_audit_quick.json`` with
``--quick``) and the same tables as markdown (``.md``).  No credential is written
anywhere: workers get them from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ENV_KEYS,
    RESULTS_DIR,
    Server,
    machine,
    median,
    peak_rss_mb,
    percentile,
    reset_peak_rss,
    rss_mb,
    run_worker,
    start_server,
)

SCRIPT = Path(__file__).resolve()
ROUTES = ("", "/node", "/reports/latest", "/jobs")
CLIENT_LABELS = {
    "sdk": "SDK (cloutility-async)",
    "aiohttp": "raw aiohttp + json",
    "httpx": "raw httpx (default transport)",
    "requests": "reference: requests, sequential",
    "sdk-httpx": "SDK with httpx's transport",
}


def _credentials() -> dict[str, str]:
    return {key: os.environ[var] for key, var in ENV_KEYS.items()}


def _base_url() -> str:
    return os.environ["CLOUTILITY_BASE_URL"]


def _load_pairs(path: str, limit: int | None) -> list[tuple[int, int]]:
    pairs = [(int(b), int(c)) for b, c in json.loads(Path(path).read_text())]
    return pairs[:limit] if limit else pairs


def _measure_start() -> tuple[float, float, float, os.times_result]:
    gc.collect()
    base = rss_mb()
    reset_peak_rss()
    return base, time.process_time(), time.perf_counter(), os.times()


def _measure_end(
    start: tuple[float, float, float, os.times_result], requests: int, **extra: Any
) -> dict[str, Any]:
    wall = time.perf_counter() - start[2]
    cpu = time.process_time() - start[1]
    times = os.times()
    peak = peak_rss_mb()
    return {
        "requests": requests,
        "wall_s": wall,
        "cpu_s": cpu,
        "user_s": times.user - start[3].user,
        "system_s": times.system - start[3].system,
        "cpu_ms_per_request": cpu / requests * 1000 if requests else math.nan,
        "wall_ms_per_request": wall / requests * 1000 if requests else math.nan,
        "requests_per_s": requests / wall if wall else math.nan,
        "peak_rss_mb": peak,
        "baseline_rss_mb": start[0],
        "rss_growth_mb": peak - start[0],
        **extra,
    }


# -- workers: each runs in its own interpreter ---------------------------------------------


def worker_aiohttp(pairs: list[tuple[int, int]], concurrency: int) -> dict[str, Any]:
    import aiohttp

    creds, base = _credentials(), _base_url()

    async def main() -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(
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
            headers = {
                "Authorization": f"Bearer {token}",
                "Origin": creds["origin"],
                "Accept": "application/json",
            }
            sem = asyncio.Semaphore(concurrency)

            async def get(url: str) -> Any:
                async with sem, session.get(url, headers=headers) as response:
                    body = await response.read()
                    if response.status == 404:
                        return None  # a consumer without a node or a report
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status} for {url}")
                    return json.loads(body)

            async def audit(b: int, c: int) -> tuple[Any, ...]:
                url = f"{base}bunits/{b}/consumers/{c}"
                consumer = await get(url)
                node = await get(url + "/node")
                report = await get(url + "/reports/latest")
                jobs = await get(url + "/jobs")
                return (
                    consumer["name"],
                    node and node.get("locked"),
                    report and report.get("status"),
                    jobs and len(jobs),
                )

            await asyncio.gather(*(audit(b, c) for b, c in pairs[:concurrency]))  # warm-up
            start = _measure_start()
            results = await asyncio.gather(*(audit(b, c) for b, c in pairs), return_exceptions=True)
            errors = sum(isinstance(r, BaseException) for r in results)
            return _measure_end(start, 4 * len(pairs), failed_audits=errors)

    return asyncio.run(main())


def worker_httpx(pairs: list[tuple[int, int]], concurrency: int) -> dict[str, Any]:
    import httpx

    creds, base = _credentials(), _base_url()

    async def main() -> dict[str, Any]:
        # httpx's default transport, its pool sized to the concurrency (the default 20
        # keep-alive connections would make it reconnect all the time at 64 in flight).
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            response = await client.post(
                base + "oauth",
                data={
                    "client_id": creds["client_id"],
                    "grant_type": "password",
                    "username": creds["username"],
                    "password": creds["password"],
                },
                headers={"Origin": creds["origin"]},
            )
            token = response.json()["access_token"]
            headers = {
                "Authorization": f"Bearer {token}",
                "Origin": creds["origin"],
                "Accept": "application/json",
            }
            sem = asyncio.Semaphore(concurrency)

            async def get(url: str) -> Any:
                async with sem:
                    response = await client.get(url, headers=headers)
                if response.status_code == 404:
                    return None  # a consumer without a node or a report
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code} for {url}")
                return json.loads(response.content)

            async def audit(b: int, c: int) -> tuple[Any, ...]:
                url = f"{base}bunits/{b}/consumers/{c}"
                consumer = await get(url)
                node = await get(url + "/node")
                report = await get(url + "/reports/latest")
                jobs = await get(url + "/jobs")
                return (
                    consumer["name"],
                    node and node.get("locked"),
                    report and report.get("status"),
                    jobs and len(jobs),
                )

            await asyncio.gather(*(audit(b, c) for b, c in pairs[:concurrency]))  # warm-up
            start = _measure_start()
            results = await asyncio.gather(*(audit(b, c) for b, c in pairs), return_exceptions=True)
            errors = sum(isinstance(r, BaseException) for r in results)
            return _measure_end(start, 4 * len(pairs), failed_audits=errors)

    return asyncio.run(main())


def worker_requests(pairs: list[tuple[int, int]], concurrency: int) -> dict[str, Any]:
    """The reference's approach: ``requests.get`` one call after another (no Session)."""
    import requests

    creds, base = _credentials(), _base_url()
    response = requests.post(
        url=base + "oauth",
        headers={"Origin": creds["origin"]},
        data={
            "client_id": creds["client_id"],
            "grant_type": "password",
            "username": creds["username"],
            "password": creds["password"],
        },
        timeout=30,
    )
    token = response.json()["access_token"]
    headers = {"Authorization": "Bearer " + token, "Origin": creds["origin"]}
    requests.get(url=base + "fullVersion", headers=headers, timeout=30)  # warm-up
    start = _measure_start()
    errors = 0
    for b, c in pairs:
        url = f"{base}bunits/{b}/consumers/{c}"
        try:
            results = []
            for route in ROUTES:
                response = requests.get(url=url + route, headers=headers, timeout=30)
                if response.status_code == 404:
                    results.append(None)  # a consumer without a node or a report
                    continue
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}")
                results.append(response.json())
        except Exception:
            errors += 1
    return _measure_end(start, 4 * len(pairs), failed_audits=errors)


def _sdk_client(concurrency: int, *, transport: Any = None, **options: Any) -> Any:
    from cloutility_async import Cloutility

    return Cloutility.from_env(max_concurrency=concurrency, transport=transport, **options)


async def _absent(call: Any) -> Any:
    try:
        return await call
    except _not_found():
        return None  # a consumer without a node or a report


def _not_found() -> type[Exception]:
    from cloutility_async import NotFoundError  # imported by SDK workers only

    return NotFoundError


async def _sdk_audit(ref: Any) -> tuple[Any, ...]:
    consumer = await ref.get()
    node = await _absent(ref.node.get())
    report = await _absent(ref.latest_report())
    jobs = await _absent(ref.jobs())
    return (
        consumer.name,
        node and node.locked,
        report and report.status,
        jobs and len(jobs),
    )


def worker_sdk(
    pairs: list[tuple[int, int]], concurrency: int, transport_kind: str = "default"
) -> dict[str, Any]:
    import anyio

    async def main() -> dict[str, Any]:
        transport = None
        if transport_kind == "httpx":
            import httpx

            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            transport = httpx.AsyncHTTPTransport(limits=limits, retries=0)
        async with _sdk_client(concurrency, transport=transport) as api:

            async def audit(pair: tuple[int, int]) -> tuple[Any, ...]:
                return await _sdk_audit(api.bunit(pair[0]).consumer(pair[1]))

            async with api.map(audit, pairs[:concurrency]) as results:  # warm-up
                async for _ in results:
                    pass
            before = api.statistics().requests
            start = _measure_start()
            errors = 0
            async with api.map(audit, pairs) as results:
                async for result in results:
                    errors += not result.ok
            stats = api.statistics()
            return _measure_end(
                start,
                4 * len(pairs),
                failed_audits=errors,
                sent=stats.requests - before,
                peak_in_flight=stats.peak_in_flight,
            )

    return anyio.run(main)


def worker_churn(
    pairs: list[tuple[int, int]],
    concurrency: int,
    duration: float,
    rate: float,
    refresh_margin: float,
) -> dict[str, Any]:
    """A paced SDK audit for ``duration`` seconds; records every request and every grant."""
    import anyio
    import httpx

    from cloutility_async._aiohttp_transport import AiohttpTransport

    grants: list[tuple[float, float]] = []

    class GrantRecorder(httpx.AsyncBaseTransport):
        """Delegates to the SDK's default transport; notes when each grant is on the wire."""

        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not request.url.path.endswith("/oauth"):
                return await self.inner.handle_async_request(request)
            started = time.perf_counter()
            try:
                return await self.inner.handle_async_request(request)
            finally:
                grants.append((started, time.perf_counter()))

        async def aclose(self) -> None:
            await self.inner.aclose()

    latencies: list[tuple[float, float]] = []
    failed: list[str] = []

    async def timed(call: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call
        finally:
            latencies.append((started, time.perf_counter()))

    async def main() -> dict[str, Any]:
        transport = GrantRecorder(AiohttpTransport(max_connections=concurrency))
        async with _sdk_client(
            concurrency, transport=transport, refresh_margin=refresh_margin
        ) as api:
            logged_in = time.perf_counter()
            total = int(duration * rate)

            async def paced() -> Any:
                t0 = time.perf_counter()
                for i in range(total):
                    delay = t0 + i / rate - time.perf_counter()
                    if delay > 0:
                        await anyio.sleep(delay)
                    yield pairs[i % len(pairs)]

            async def audit(pair: tuple[int, int]) -> None:
                ref = api.bunit(pair[0]).consumer(pair[1])
                await timed(ref.get())
                await timed(_absent(ref.node.get()))
                await timed(_absent(ref.latest_report()))
                await timed(_absent(ref.jobs()))

            started = time.perf_counter()
            async with api.map(audit, paced(), concurrency=concurrency) as results:
                async for result in results:
                    if not result.ok:
                        failed.append(repr(result.error)[:200])
            ended = time.perf_counter()
            stats = api.statistics()
            token = api.token
            lifetime = token.expires_in if token is not None else math.nan

        def inside(span: tuple[float, float]) -> bool:
            return any(span[0] <= g_end and span[1] >= g_start for g_start, g_end in grants)

        inner = sorted((e - s) * 1000 for s, e in latencies if inside((s, e)))
        outer = sorted((e - s) * 1000 for s, e in latencies if not inside((s, e)))
        renew_every = lifetime - min(refresh_margin, lifetime / 2)
        grants_made = stats.password_grants + stats.refresh_grants
        # Each token is replaced exactly once: consecutive grants are about one renewal
        # interval apart (never closer: no duplicate grant; never further than a
        # lifetime: no token expired in use).
        starts = [g[0] for g in grants]
        intervals = [b - a for a, b in itertools.pairwise(starts)]
        grant_s = statistics.fmean(e - s for s, e in grants) if grants else 0.0
        expected = 1 + math.floor((ended - grants[0][1]) / (renew_every + grant_s))
        return {
            "duration_s": ended - started,
            "token_lifetime_s": lifetime,
            "refresh_margin_s": refresh_margin,
            "requests": len(latencies),
            "failed_audits": len(failed),
            "failures": failed[:5],
            "grants_made": grants_made,
            "password_grants": stats.password_grants,
            "refresh_grants": stats.refresh_grants,
            "grants_expected": expected,
            "grants_on_the_wire": len(grants),
            "renew_every_s": renew_every,
            "grant_interval_min_s": min(intervals, default=math.nan),
            "grant_interval_max_s": max(intervals, default=math.nan),
            "one_grant_per_token": bool(
                intervals
                and min(intervals) >= 0.9 * renew_every
                and max(intervals) <= lifetime
                and len(grants) == grants_made
            ),
            "token_lifetimes_in_run": (ended - logged_in) / lifetime,
            "token_waits": stats.token_waits,
            "replays_after_401": stats.replays_after_401,
            "retries": stats.retries,
            "grant_ms": [round((e - s) * 1000, 2) for s, e in grants],
            "inside_windows": _latency_summary(inner),
            "outside_windows": _latency_summary(outer),
        }

    return anyio.run(main)


def _latency_summary(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": values[-1] if values else math.nan,
    }


def worker_stream(concurrency: int, checkpoints: list[int], routes: int) -> dict[str, Any]:
    """Streaming audit: ``walk_consumers()`` into ``map``, nothing kept; the peak RSS
    growth over the RSS after import and login, at each checkpoint."""
    import anyio

    async def main() -> dict[str, Any]:
        async with _sdk_client(concurrency) as api:
            await api.full_version()
            start = _measure_start()
            marks: list[dict[str, Any]] = []
            done = errors = 0

            async def audit(entry: Any) -> Any:
                if routes >= 4:
                    return await _sdk_audit(entry.ref)
                consumer = await entry.ref.get()
                node = await _absent(entry.ref.node.get())
                return consumer.name, node and node.locked

            async with api.map(audit, api.walk_consumers()) as results:
                async for result in results:
                    done += 1
                    errors += not result.ok
                    if done in checkpoints:
                        marks.append(
                            {
                                "consumers": done,
                                "seconds": time.perf_counter() - start[2],
                                "peak_rss_growth_mb": peak_rss_mb() - start[0],
                                "rss_growth_mb": rss_mb() - start[0],
                            }
                        )
                        if done >= checkpoints[-1]:
                            break
            sent = api.statistics().requests
            return _measure_end(
                start,
                sent,
                consumers=done,
                routes_per_consumer=routes,
                failed_audits=errors,
                checkpoints=marks,
            )

    return anyio.run(main)


def run_as_worker(args: argparse.Namespace) -> int:
    pairs = _load_pairs(args.pairs, args.limit) if args.pairs else []
    kind = args.worker
    if kind == "sdk":
        result = worker_sdk(pairs, args.concurrency)
    elif kind == "sdk-httpx":
        result = worker_sdk(pairs, args.concurrency, transport_kind="httpx")
    elif kind == "aiohttp":
        result = worker_aiohttp(pairs, args.concurrency)
    elif kind == "httpx":
        result = worker_httpx(pairs, args.concurrency)
    elif kind == "requests":
        result = worker_requests(pairs, args.concurrency)
    elif kind == "churn":
        result = worker_churn(
            pairs, args.concurrency, args.duration, args.rate, args.refresh_margin
        )
    elif kind == "stream":
        checkpoints = [int(x) for x in args.checkpoints.split(",")]
        result = worker_stream(args.concurrency, checkpoints, args.memory_routes)
    else:
        raise SystemExit(f"unknown worker {kind}")
    print(json.dumps(result))
    return 0


# -- the orchestrator -------------------------------------------------------------------------


async def _prepare(server: Server, concurrency: int, warm: int) -> dict[str, Any]:
    """The consumer list (the tree, then each unit's consumers), and one untimed pass over
    the first ``warm`` consumers' audit URLs, so that the simulator has generated their
    job and report histories before anything is timed."""
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
        urls = [f"{base}bunits/{b}/consumers/{c}{r}" for b, c in pairs[:warm] for r in ROUTES]
        for status, _ in await asyncio.gather(*(get(u) for u in urls)):
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"pairs": pairs, "units": len(units), "warm_statuses": statuses}


class Bench:
    """One simulator server and its consumer list, shared by every scenario."""

    def __init__(self, args: argparse.Namespace, log: Any) -> None:
        self.args = args
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
            a = self.args
            consumers = max(a.consumers, a.churn_consumers, *a.memory_consumers)
            warm = max(a.consumers, a.churn_consumers)
            started = time.perf_counter()
            self.server = start_server(consumers=consumers)
            prep = asyncio.run(_prepare(self.server, 4 * a.concurrency, warm))
            self.pairs = prep["pairs"]
            self.log(
                f"  simulator: {consumers:,} consumers in {prep['units']} units; warmed"
                f" {warm:,} ({prep['warm_statuses']}) in {time.perf_counter() - started:.1f} s"
            )
        return self.server

    def pairs_file(self, count: int) -> str:
        if count not in self._files:
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - removed in __exit__
                "w", suffix=".json", prefix="bulk_audit_pairs_", delete=False
            )
            with handle:
                json.dump(self.pairs[:count], handle)
            self._files[count] = handle.name
        return self._files[count]

    def run(
        self,
        kind: str,
        consumers: int,
        concurrency: int | None = None,
        extra: list[str] | None = None,
        timeout: float = 300,
    ) -> dict[str, Any]:
        server = self.start()
        args = [
            "--worker", kind,
            "--pairs", self.pairs_file(consumers),
            "--concurrency", str(concurrency or self.args.concurrency),
            *(extra or []),
        ]  # fmt: skip
        cpu_before = server.cpu_seconds()
        result: dict[str, Any] = run_worker(SCRIPT, args, server.env(), timeout)
        result["server_cpu_s"] = server.cpu_seconds() - cpu_before
        result["client"] = kind
        return result


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("wall_s", "cpu_s", "cpu_ms_per_request", "requests_per_s", "peak_rss_mb",
            "rss_growth_mb", "server_cpu_s")  # fmt: skip
    summary: dict[str, Any] = {k: median([r[k] for r in runs]) for k in keys}
    summary["requests"] = runs[0]["requests"]
    summary["rounds"] = len(runs)
    summary["failed_audits"] = max(r["failed_audits"] for r in runs)
    summary["cpu_ms_per_request_all"] = [round(r["cpu_ms_per_request"], 4) for r in runs]
    return summary


def _ratio_by_round(
    rounds: list[dict[str, dict[str, Any]]], a: str, b: str, key: str
) -> dict[str, Any]:
    ratios = [r[a][key] / r[b][key] for r in rounds if a in r and b in r and r[b][key]]
    return {"median": median(ratios), "per_round": [round(x, 3) for x in ratios]}


def scenario_cpu(bench: Bench, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """No latency, 64 in flight, every client in turn; medians and per-round ratios."""
    bench.start().configure(latency_ms=0, include_oauth=False)
    clients = ["sdk", "aiohttp", "httpx", *args.extra_clients]
    sizes = {kind: args.consumers for kind in clients}
    # httpx's pool costs milliseconds of CPU per request at 64 in flight: a subset
    # keeps the run short; its figures are per request.
    sizes["httpx"] = min(args.consumers, args.httpx_consumers)
    rounds: list[dict[str, dict[str, Any]]] = []
    sequential: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = clients[i % len(clients) :] + clients[: i % len(clients)]
        row: dict[str, dict[str, Any]] = {}
        for kind in order:
            row[kind] = bench.run(kind, sizes[kind])
            log(f"  round {i + 1} {kind:<9} {_brief(row[kind])}")
        rounds.append(row)
        if args.sequential_consumers:
            seq = bench.run("requests", args.sequential_consumers, concurrency=1)
            sequential.append(seq)
            log(f"  round {i + 1} requests  {_brief(seq)}")
    summary = {k: _summarise([r[k] for r in rounds]) for k in clients}
    if sequential:
        summary["requests"] = _summarise(sequential)
    ratios = {
        f"sdk/{other}": {
            "cpu_per_request": _ratio_by_round(rounds, "sdk", other, "cpu_ms_per_request"),
            "wall_per_request": _ratio_by_round(rounds, "sdk", other, "wall_ms_per_request"),
        }
        for other in clients
        if other != "sdk"
    }
    return {
        "consumers": args.consumers,
        "requests_per_run": 4 * args.consumers,
        "concurrency": args.concurrency,
        "latency_ms": 0,
        "summary": summary,
        "ratios": ratios,
        "runs": rounds,
        "sequential_runs": sequential,
    }


def scenario_latency(bench: Bench, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """Server latency: the wall time against requests x latency / concurrency."""
    server = bench.start()
    server.configure(latency_ms=args.latency_ms, include_oauth=False)
    clients = ["sdk", "aiohttp"]
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        for i in range(args.latency_rounds):
            order = clients[i % 2 :] + clients[: i % 2]
            row = {}
            for kind in order:
                row[kind] = bench.run(kind, args.consumers)
                log(f"  round {i + 1} {kind:<9} {_brief(row[kind])}")
            rounds.append(row)
    finally:
        server.configure(latency_ms=0)
    requests = 4 * args.consumers
    ideal = requests * args.latency_ms / 1000 / args.concurrency
    summary = {k: _summarise([r[k] for r in rounds]) for k in clients}
    for s in summary.values():
        s["wall_vs_ideal"] = s["wall_s"] / ideal
    return {
        "consumers": args.consumers,
        "requests_per_run": requests,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "ideal_wall_s": ideal,
        "summary": summary,
        "sdk_over_aiohttp_wall": _ratio_by_round(rounds, "sdk", "aiohttp", "wall_s"),
        "runs": rounds,
    }


def scenario_churn(bench: Bench, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """Short-lived tokens under a steady paced load."""
    server = bench.start()
    server.configure(
        latency_ms=args.churn_latency_ms, include_oauth=True, token_lifetime=args.token_lifetime
    )
    before = server.stats()["grants"]
    margin = args.refresh_margin if args.refresh_margin is not None else args.token_lifetime / 5
    try:
        extra = [
            "--duration", str(args.churn_seconds),
            "--rate", str(args.churn_rate),
            "--refresh-margin", str(margin),
        ]  # fmt: skip
        result = bench.run(
            "churn", args.churn_consumers, extra=extra, timeout=args.churn_seconds + 120
        )
    finally:
        server.configure(latency_ms=0, include_oauth=False, token_lifetime=299.0)
    after = server.stats()["grants"]
    result["server_grants"] = {
        f"{kind.split('_')[0]}_grants": after.get(kind, 0) - before.get(kind, 0) for kind in after
    }
    result["server_latency_ms"] = args.churn_latency_ms
    result["audits_per_s"] = args.churn_rate
    log(
        f"  grants {result['grants_made']} (expected {result['grants_expected']}, server saw"
        f" {sum(result['server_grants'].values())}), waits {result['token_waits']},"
        f" failed {result['failed_audits']}, p99 inside"
        f" {result['inside_windows']['p99_ms']:.1f} ms (n={result['inside_windows']['count']}),"
        f" outside {result['outside_windows']['p99_ms']:.1f} ms"
    )
    return result


def scenario_memory(bench: Bench, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """A streaming audit over every consumer of the server; checkpoints on the way."""
    bench.start().configure(latency_ms=0, include_oauth=False)
    sizes = sorted(args.memory_consumers)
    extra = [
        "--checkpoints", ",".join(str(n) for n in sizes),
        "--memory-routes", str(args.memory_routes),
    ]  # fmt: skip
    result = bench.run("stream", 1, extra=extra, timeout=900)
    for mark in result["checkpoints"]:
        log(
            f"  {mark['consumers']:>6} consumers: peak RSS +{mark['peak_rss_growth_mb']:.1f} MB"
            f" after {mark['seconds']:.1f} s"
        )
    return result


_IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _import_once(env: dict[str, str], code: str) -> tuple[float, dict[str, float]]:
    """The cumulative import time of ``cloutility_async`` and, per top-level package
    (``httpx``, ``attr``, ``cloutility_async``, ...), the sum of the own times of the
    modules that importing it loaded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    rows = [m.groups() for m in map(_IMPORT_LINE.match, done.stderr.splitlines()) if m]
    # Children print before their parent: the block that ends with the top-level
    # `cloutility_async` line is everything its import loaded.
    end = next(i for i, row in enumerate(rows) if row[3] == "cloutility_async" and row[2] == " ")
    start = max((i + 1 for i in range(end) if rows[i][2] == " "), default=0)
    by_package: dict[str, float] = {}
    for self_us, _, _, name in rows[start : end + 1]:
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(self_us) / 1000
    return int(rows[end][1]) / 1000, by_package


def scenario_import(bench: Bench | None, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """``python -X importtime -c "import cloutility_async"``, as installed here and as a
    plain install would have it (without click, whose presence makes ``import httpx``
    import its command line, rich and pygments)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SCRIPT.parent.parent)
    variants = {
        "this_venv": "import cloutility_async",
        "without_httpx_cli": "import sys; sys.modules['click'] = None; import cloutility_async",
    }
    result: dict[str, Any] = {}
    for name, code in variants.items():
        totals, parts = [], {}
        for _ in range(args.import_runs):
            total, found = _import_once(env, code)
            totals.append(total)
            for key, ms in found.items():
                parts.setdefault(key, []).append(ms)
        heaviest = sorted(((median(v), k) for k, v in parts.items()), reverse=True)[:8]
        result[name] = {
            "cumulative_ms": median(totals),
            "runs_ms": [round(t, 1) for t in totals],
            "own_ms_by_package": {k: round(ms, 1) for ms, k in heaviest},
        }
    bare = []
    for _ in range(args.import_runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
        bare.append(time.perf_counter() - started)
    result["bare_interpreter_ms"] = median(bare) * 1000
    result["cumulative_ms"] = result["this_venv"]["cumulative_ms"]
    log(
        f"  import cloutility_async: {result['this_venv']['cumulative_ms']:.0f} ms here,"
        f" {result['without_httpx_cli']['cumulative_ms']:.0f} ms without httpx's CLI"
        f" (medians of {args.import_runs})"
    )
    return result


def _brief(r: dict[str, Any]) -> str:
    return (
        f"{r['requests']:>6} req  wall {r['wall_s']:6.2f} s  CPU {r['cpu_ms_per_request']:.3f}"
        f" ms/req  {r['requests_per_s']:6.0f} req/s  peak {r['peak_rss_mb']:5.1f} MB"
        f"  server CPU {r['server_cpu_s']:.2f} s  failed {r['failed_audits']}"
    )


# -- report ----------------------------------------------------------------------------------


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cpu = report["scenarios"].get("cpu")
    if cpu:
        aio = cpu["ratios"]["sdk/aiohttp"]["cpu_per_request"]["median"]
        hx = cpu["ratios"]["sdk/httpx"]["cpu_per_request"]["median"]
        out.append(_target("SDK CPU/request vs raw aiohttp", f"{aio:.2f}x", "<= 1.5x", aio <= 1.5))
        out.append(_target("SDK CPU/request vs raw httpx", f"{hx:.2f}x", "<= 0.3x", hx <= 0.3))
    lat = report["scenarios"].get("latency")
    if lat:
        sdk = lat["summary"]["sdk"]
        raw = lat["summary"]["aiohttp"]
        out.append(
            _target(
                "latency-bound wall vs ideal",
                f"{sdk['wall_vs_ideal']:.2f}x ({sdk['wall_s']:.2f} s vs {lat['ideal_wall_s']:.2f}"
                f" s; raw aiohttp {raw['wall_vs_ideal']:.2f}x; simulator CPU"
                f" {sdk['server_cpu_s']:.2f} s)",
                "<= 1.15x",
                sdk["wall_vs_ideal"] <= 1.15,
            )
        )
    churn = report["scenarios"].get("churn")
    if churn:
        p_in = churn["inside_windows"]["p99_ms"]
        p_out = churn["outside_windows"]["p99_ms"]
        out.append(
            _target(
                "token churn: grants",
                f"{churn['grants_made']} in {churn['duration_s']:.0f} s"
                f" ({churn['grants_expected']} expected: one per {churn['renew_every_s']:g} s"
                f" renewal), {churn['grant_interval_min_s']:.2f}-"
                f"{churn['grant_interval_max_s']:.2f} s apart, {churn['token_waits']} requests"
                " waited",
                "one per token, no waits",
                churn["one_grant_per_token"]
                and churn["grants_made"] == churn["grants_expected"]
                and churn["token_waits"] == 0,
            )
        )
        out.append(
            _target(
                "token churn: failed requests",
                str(churn["failed_audits"]),
                "0",
                churn["failed_audits"] == 0,
            )
        )
        out.append(
            _target(
                "token churn: p99 inside refresh windows",
                f"{p_in:.1f} ms inside (n={churn['inside_windows']['count']}) vs"
                f" {p_out:.1f} ms outside",
                "<= outside + 5 ms",
                p_in <= p_out + 5,
            )
        )
    mem = report["scenarios"].get("memory")
    if mem and mem["checkpoints"]:
        marks = mem["checkpoints"]
        first, last = marks[0], marks[-1]
        flat = last["peak_rss_growth_mb"] <= first["peak_rss_growth_mb"] * 1.5 + 5
        out.append(
            _target(
                f"streaming audit peak RSS growth ({last['consumers']:,} consumers)",
                f"{last['peak_rss_growth_mb']:.1f} MB ({first['consumers']:,}:"
                f" {first['peak_rss_growth_mb']:.1f} MB)",
                "<= 150 MB, flat",
                last["peak_rss_growth_mb"] <= 150 and flat,
            )
        )
    imp = report["scenarios"].get("import")
    if imp:
        ms = imp["cumulative_ms"]
        plain = imp["without_httpx_cli"]["cumulative_ms"]
        out.append(
            _target(
                "import cloutility_async",
                f"{ms:.0f} ms ({plain:.0f} ms without httpx's CLI deps)",
                "<= 150 ms",
                ms <= 150,
            )
        )
    return out


def _target(name: str, measured: str, goal: str, met: bool) -> dict[str, Any]:
    return {"target": name, "measured": measured, "goal": goal, "met": met}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['implementation']} {m['python']},"
        f" {m['platform']}; aiohttp {m['libraries']['aiohttp']},"
        f" httpx {m['libraries']['httpx']}, requests {m['libraries']['requests']}."
        f" Run {report['date']} ({report['mode']} mode, {report['elapsed_s']:.0f} s).",
        "",
    ]
    cpu = report["scenarios"].get("cpu")
    if cpu:
        lines += [
            f"**CPU-bound**: {cpu['consumers']:,} consumers x 4 requests, no latency,"
            f" {cpu['concurrency']} in flight; median of {cpu['summary']['sdk']['rounds']}"
            " alternating rounds.",
            "",
            "| client | wall s | client CPU ms/request | requests/s | peak RSS MB |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, s in cpu["summary"].items():
            lines.append(
                f"| {CLIENT_LABELS[kind]} ({s['requests']:,} requests) | {s['wall_s']:.2f}"
                f" | {s['cpu_ms_per_request']:.3f} | {s['requests_per_s']:,.0f}"
                f" | {s['peak_rss_mb']:.1f} |"
            )
        for name, r in cpu["ratios"].items():
            lines.append(
                f"\n{name}: CPU/request {r['cpu_per_request']['median']:.2f}x"
                f" (rounds {r['cpu_per_request']['per_round']}),"
                f" wall per request {r['wall_per_request']['median']:.2f}x"
            )
        if "requests" in cpu["summary"]:
            s = cpu["summary"]["requests"]
            lines.append(
                f"\nreference (requests, one call after another, {s['requests']} requests):"
                f" {s['wall_s'] / s['requests'] * 1000:.2f} ms wall and"
                f" {s['cpu_ms_per_request']:.3f} ms CPU per request; the"
                f" {cpu['requests_per_run']:,} requests would take"
                f" {s['wall_s'] / s['requests'] * cpu['requests_per_run']:.1f} s"
                f" (SDK: {cpu['summary']['sdk']['wall_s']:.1f} s)"
            )
        lines.append("")
    lat = report["scenarios"].get("latency")
    if lat:
        lines += [
            f"**Latency-bound**: {lat['latency_ms']:.0f} ms server latency,"
            f" {lat['requests_per_run']:,} requests, {lat['concurrency']} in flight;"
            f" ideal {lat['ideal_wall_s']:.2f} s.",
            "",
            "| client | wall s | x ideal | client CPU ms/request | simulator CPU s |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, s in lat["summary"].items():
            lines.append(
                f"| {CLIENT_LABELS[kind]} | {s['wall_s']:.2f} | {s['wall_vs_ideal']:.2f}"
                f" | {s['cpu_ms_per_request']:.3f} | {s['server_cpu_s']:.2f} |"
            )
        lines.append(
            f"\nsdk/aiohttp wall: {lat['sdk_over_aiohttp_wall']['median']:.2f}x"
            f" (rounds {lat['sdk_over_aiohttp_wall']['per_round']})"
        )
        lines.append("")
    churn = report["scenarios"].get("churn")
    if churn:
        i, o = churn["inside_windows"], churn["outside_windows"]
        lines += [
            f"**Token churn**: {churn['token_lifetime_s']:g} s tokens,"
            f" {churn['duration_s']:.0f} s at {churn['audits_per_s']:g} audits/s"
            f" ({churn['requests']:,} requests, {churn['server_latency_ms']:g} ms latency,"
            f" refresh margin {churn['refresh_margin_s']:g} s): grants"
            f" {churn['grants_made']} (expected {churn['grants_expected']}; the simulator"
            f" counted {sum(churn['server_grants'].values())}), consecutive grants"
            f" {churn['grant_interval_min_s']:.2f}-{churn['grant_interval_max_s']:.2f} s"
            f" apart, token waits {churn['token_waits']}, 401 replays"
            f" {churn['replays_after_401']}, failed audits {churn['failed_audits']}.",
            "",
            "| requests | n | p50 ms | p90 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|",
            f"| inside refresh windows | {i['count']} | {i['p50_ms']:.1f} | {i['p90_ms']:.1f}"
            f" | {i['p99_ms']:.1f} | {i['max_ms']:.1f} |",
            f"| outside | {o['count']} | {o['p50_ms']:.1f} | {o['p90_ms']:.1f}"
            f" | {o['p99_ms']:.1f} | {o['max_ms']:.1f} |",
            "",
        ]
    mem = report["scenarios"].get("memory")
    if mem:
        lines += [
            "**Streaming audit memory** (`walk_consumers()` + `map`, results not kept,"
            f" {mem['routes_per_consumer']} requests per consumer): baseline RSS"
            f" {mem['baseline_rss_mb']:.1f} MB after import and login.",
            "",
            "| consumers | peak RSS growth MB | seconds |",
            "|---:|---:|---:|",
        ]
        for mark in mem["checkpoints"]:
            lines.append(
                f"| {mark['consumers']:,} | {mark['peak_rss_growth_mb']:.1f}"
                f" | {mark['seconds']:.1f} |"
            )
        lines.append("")
    imp = report["scenarios"].get("import")
    if imp:
        here, plain = imp["this_venv"], imp["without_httpx_cli"]
        lines += [
            f'**Import**: `python -X importtime -c "import cloutility_async"`:'
            f" {here['cumulative_ms']:.0f} ms cumulative (median of {len(here['runs_ms'])});"
            f" {plain['cumulative_ms']:.0f} ms without httpx's command-line dependencies"
            " (click, rich, pygments: installed here by the `cli` extra). Where the time"
            " goes (own time of the modules loaded, by package, without the CLI ones): "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in list(plain["own_ms_by_package"].items()))
            + f"; the bare interpreter starts in {imp['bare_interpreter_ms']:.0f} ms.",
            "",
        ]
    lines += ["| target | goal | measured | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        lines.append(
            f"| {t['target']} | {t['goal']} | {t['measured']} | {'yes' if t['met'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (< 40 s), for CI")
    parser.add_argument(
        "--scenarios",
        default="cpu,latency,churn,memory,import",
        help="comma-separated subset of cpu,latency,churn,memory,import",
    )
    parser.add_argument("--consumers", type=int, help="consumers audited (2000; quick 250)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--rounds", type=int, help="alternating rounds, CPU-bound (3; quick 1)")
    parser.add_argument(
        "--httpx-consumers", type=int, help="consumers for raw httpx, CPU-bound (250; quick 100)"
    )
    parser.add_argument(
        "--sequential-consumers", type=int, help="consumers for the requests script (25; 10)"
    )
    parser.add_argument(
        "--extra-clients",
        default="",
        help="also run these in the CPU-bound scenario (sdk-httpx: the SDK on httpx's pool)",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--latency-rounds", type=int, help="rounds, latency-bound (2; quick 1)")
    parser.add_argument("--token-lifetime", type=float, help="seconds (5; quick 2)")
    parser.add_argument("--churn-seconds", type=float, help="(30; quick 6)")
    parser.add_argument("--churn-rate", type=float, default=100.0, help="audits per second")
    parser.add_argument("--churn-latency-ms", type=float, default=20.0)
    parser.add_argument("--churn-consumers", type=int, help="(500; quick 250)")
    parser.add_argument(
        "--refresh-margin", type=float, help="the SDK's refresh_margin (token lifetime / 5)"
    )
    parser.add_argument(
        "--memory-consumers", help="streaming-audit checkpoints (5000,20000; quick 1000,4000)"
    )
    parser.add_argument(
        "--memory-routes",
        type=int,
        default=2,
        choices=(2, 4),
        help="requests per consumer in the streaming audit (4: the whole audit)",
    )
    parser.add_argument("--import-runs", type=int, help="runs of each import variant (3)")
    parser.add_argument("--output", type=Path, help="results JSON (benchmarks/results/...)")
    # Internal: run one client in this process.
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoints", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_as_worker(args)

    quick = args.quick
    defaults = {
        "consumers": (250, 2000),
        "rounds": (1, 3),
        "httpx_consumers": (100, 250),
        "sequential_consumers": (10, 25),
        "latency_rounds": (1, 2),
        "token_lifetime": (2.0, 5.0),
        "churn_seconds": (6.0, 30.0),
        "churn_consumers": (250, 500),
        "memory_consumers": ("1000,4000", "5000,20000"),
        "import_runs": (3, 3),
    }
    for name, (small, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.memory_consumers = [int(x) for x in str(args.memory_consumers).split(",")]
    args.extra_clients = [x for x in args.extra_clients.split(",") if x]

    # A terminated run still stops its simulator (Bench.__exit__).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)

    runners = {
        "cpu": scenario_cpu,
        "latency": scenario_latency,
        "churn": scenario_churn,
        "memory": scenario_memory,
        "import": scenario_import,
    }
    internal = ("worker", "pairs", "limit", "duration", "rate", "checkpoints", "output")
    report: dict[str, Any] = {
        "benchmark": "bulk_audit",
        "mode": "quick" if quick else "full",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "options": {k: v for k, v in vars(args).items() if k not in internal},
        "scenarios": {},
    }
    with Bench(args, log) as bench:
        for name in args.scenarios.split(","):
            log(f"scenario {name}")
            report["scenarios"][name] = runners[name](bench, args, log)
    report["elapsed_s"] = time.perf_counter() - started
    report["targets"] = _targets(report)
    output = args.output or RESULTS_DIR / ("bulk_audit_quick.json" if quick else "bulk_audit.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(_clean(report), indent=2, allow_nan=False) + "\n")
    table = markdown(report)
    output.with_suffix(".md").write_text(table)
    print()
    print(table)
    print(f"wrote {output} and {output.with_suffix('.md').name}")
    return 0


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, paths strings."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


if __name__ == "__main__":
    sys.exit(main())
