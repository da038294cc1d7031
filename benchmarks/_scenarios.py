"""The wall-clock and memory scenarios of ``bulk_audit.py``.

Each takes the shared ``Bench``, the parsed options and a log function, and returns a
JSON-ready dict. Within a scenario the clients alternate (A, B, C; B, C, A; ...),
figures are medians of the rounds, and ratios are taken within a round (side by side).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _ir
from _bench import Bench, Log, brief
from _common import REPO, median

Options = argparse.Namespace


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("wall_s", "cpu_s", "cpu_ms_per_request", "requests_per_s", "peak_rss_mb",
            "rss_growth_mb", "server_cpu_s")  # fmt: skip
    summary: dict[str, Any] = {k: median([r[k] for r in runs]) for k in keys}
    summary["requests"] = runs[0]["requests"]
    summary["rounds"] = len(runs)
    summary["failed_audits"] = max(r["failed_audits"] for r in runs)
    summary["cpu_ms_per_request_all"] = [round(r["cpu_ms_per_request"], 4) for r in runs]
    return summary


def ratio_by_round(rounds: list[dict[str, dict[str, Any]]], a: str, b: str, key: str) -> Any:
    ratios = [r[a][key] / r[b][key] for r in rounds if a in r and b in r and r[b][key]]
    return {"median": median(ratios), "per_round": [round(x, 3) for x in ratios]}


def alternate(
    bench: Bench,
    clients: list[str],
    rounds: int,
    sizes: dict[str, int],
    log: Log,
    **run: Any,
) -> list[dict[str, dict[str, Any]]]:
    """``rounds`` rounds of every client, each round starting one client later."""
    out: list[dict[str, dict[str, Any]]] = []
    for i in range(rounds):
        order = clients[i % len(clients) :] + clients[: i % len(clients)]
        row: dict[str, dict[str, Any]] = {}
        for kind in order:
            row[kind] = bench.run(kind, sizes[kind], **run)
            log(f"  round {i + 1} {kind:<9} {brief(row[kind])}")
        out.append(row)
    return out


def cpu(bench: Bench, opts: Options, log: Log) -> dict[str, Any]:
    """No latency, 64 in flight, every client in turn: client CPU seconds per request."""
    bench.start().configure(latency_ms=0, include_oauth=False)
    clients = ["sdk", "aiohttp", "httpx", *opts.extra_clients]
    sizes = {kind: opts.consumers for kind in clients}
    # httpx's pool costs milliseconds of CPU per request at 64 in flight: a subset
    # keeps the run short; its figures are per request.
    sizes["httpx"] = min(opts.consumers, opts.httpx_consumers)
    rounds = alternate(bench, clients, opts.rounds, sizes, log)
    sequential: list[dict[str, Any]] = []
    for i in range(opts.rounds if opts.sequential_consumers else 0):
        sequential.append(bench.run("requests", opts.sequential_consumers, concurrency=1))
        log(f"  round {i + 1} requests  {brief(sequential[-1])}")
    summary = {k: summarise([r[k] for r in rounds]) for k in clients}
    if sequential:
        summary["requests"] = summarise(sequential)
    ratios = {
        f"sdk/{other}": {
            "cpu_per_request": ratio_by_round(rounds, "sdk", other, "cpu_ms_per_request"),
            "wall_per_request": ratio_by_round(rounds, "sdk", other, "wall_ms_per_request"),
        }
        for other in clients
        if other != "sdk"
    }
    return {
        "consumers": opts.consumers,
        "requests_per_run": 4 * opts.consumers,
        "concurrency": opts.concurrency,
        "latency_ms": 0,
        "summary": summary,
        "ratios": ratios,
        "runs": rounds,
        "sequential_runs": sequential,
    }


def latency(bench: Bench, opts: Options, log: Log) -> dict[str, Any]:
    """Server latency: the wall time against requests x latency / concurrency."""
    server = bench.start()
    server.configure(latency_ms=opts.latency_ms, include_oauth=False)
    clients = ["sdk", "aiohttp"]
    try:
        sizes = dict.fromkeys(clients, opts.consumers)
        rounds = alternate(bench, clients, opts.latency_rounds, sizes, log)
    finally:
        server.configure(latency_ms=0)
    requests = 4 * opts.consumers
    ideal = requests * opts.latency_ms / 1000 / opts.concurrency
    summary = {k: summarise([r[k] for r in rounds]) for k in clients}
    for s in summary.values():
        s["wall_vs_ideal"] = s["wall_s"] / ideal
    return {
        "consumers": opts.consumers,
        "requests_per_run": requests,
        "concurrency": opts.concurrency,
        "latency_ms": opts.latency_ms,
        "ideal_wall_s": ideal,
        "summary": summary,
        "sdk_over_aiohttp_wall": ratio_by_round(rounds, "sdk", "aiohttp", "wall_s"),
        "runs": rounds,
    }


def churn(bench: Bench, opts: Options, log: Log) -> dict[str, Any]:
    """Short-lived tokens under a steady paced load."""
    server = bench.start()
    server.configure(
        latency_ms=opts.churn_latency_ms, include_oauth=True, token_lifetime=opts.token_lifetime
    )
    before = server.stats()["grants"]
    margin = opts.refresh_margin if opts.refresh_margin is not None else opts.token_lifetime / 5
    try:
        extra = [
            "--duration", str(opts.churn_seconds),
            "--rate", str(opts.churn_rate),
            "--refresh-margin", str(margin),
        ]  # fmt: skip
        result = bench.run(
            "churn", opts.churn_consumers, extra=extra, timeout=opts.churn_seconds + 120
        )
    finally:
        server.configure(latency_ms=0, include_oauth=False, token_lifetime=299.0)
    after = server.stats()["grants"]
    result["server_grants"] = {
        f"{kind.split('_')[0]}_grants": after.get(kind, 0) - before.get(kind, 0) for kind in after
    }
    result["server_latency_ms"] = opts.churn_latency_ms
    result["audits_per_s"] = opts.churn_rate
    log(
        f"  grants {result['grants_made']} (expected {result['grants_expected']}, server saw"
        f" {sum(result['server_grants'].values())}), waits {result['token_waits']},"
        f" failed {result['failed_audits']}, p99 inside"
        f" {result['inside_windows']['p99_ms']:.1f} ms (n={result['inside_windows']['count']}),"
        f" outside {result['outside_windows']['p99_ms']:.1f} ms"
    )
    return result


def memory(bench: Bench, opts: Options, log: Log) -> dict[str, Any]:
    """A streaming audit over every consumer of the server; checkpoints on the way."""
    bench.start().configure(latency_ms=0, include_oauth=False)
    sizes = sorted(opts.memory_consumers)
    extra = [
        "--checkpoints", ",".join(str(n) for n in sizes),
        "--memory-routes", str(opts.memory_routes),
    ]  # fmt: skip
    result = bench.run("stream", 1, extra=extra, timeout=900)
    for mark in result["checkpoints"]:
        log(
            f"  {mark['consumers']:>6} consumers: peak RSS +{mark['peak_rss_growth_mb']:.1f} MB"
            f" after {mark['seconds']:.1f} s"
        )
    return result


def inflight(bench: Bench, opts: Options, log: Log) -> dict[str, Any]:
    """1,000 typed consumer GETs at once: the peak RSS growth of the SDK and of raw aiohttp
    over each one's RSS after login and one request."""
    bench.start().configure(latency_ms=0, include_oauth=False)
    clients = ["sdk", "aiohttp"]
    n = opts.in_flight
    extra = ["--workload", "get", "--warmup", "1"]
    sizes = dict.fromkeys(clients, n)
    rounds = alternate(
        bench, clients, opts.in_flight_rounds, sizes, log, concurrency=n, extra=extra
    )
    growth = {k: median([r[k]["rss_growth_mb"] for r in rounds]) for k in clients}
    return {
        "in_flight": n,
        "rss_growth_mb": growth,
        "sdk_over_aiohttp": ratio_by_round(rounds, "sdk", "aiohttp", "rss_growth_mb"),
        "failed": {k: max(r[k]["failed_audits"] for r in rounds) for k in clients},
        "runs": rounds,
    }


def models(bench: Bench, opts: Options, log: Log) -> dict[str, Any]:
    """What a structured Consumer costs on top of its JSON dict (tracemalloc)."""
    bench.start().configure(latency_ms=0, include_oauth=False)
    result = bench.run("models", opts.model_consumers)
    log(
        f"  {result['model']}: {result['model_bytes_each']:,.0f} B each,"
        f" its dict {result['dict_bytes_each']:,.0f} B: {result['over_dict_bytes_each']:,.0f} B"
        f" over the dict ({result['count']} kept)"
    )
    return result


_IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _import_once(env: dict[str, str], code: str) -> dict[str, Any]:
    """``cloutility_async``'s cumulative import time, the sum of every top-level import's
    cumulative time (the interpreter's own start included), and per top-level package
    (``httpx``, ``attr``, ...) the own times of the modules importing the SDK loaded."""
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
    top_level = sum(int(row[1]) for row in rows if row[2] == " ") / 1000
    return {
        "sdk_ms": int(rows[end][1]) / 1000,
        "all_top_level_ms": top_level,
        "by_package": by_package,
        "modules": end + 1 - start,
    }


def _import_instructions(env: dict[str, str]) -> dict[str, int]:
    """Instructions of ``import cloutility_async`` over a bare interpreter (callgrind over
    the whole process, minus the same for ``pass``): what the load cannot blur."""
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, code in (("import", "import cloutility_async"), ("bare", "pass")):
            out = Path(tmp) / f"{name}.out"
            subprocess.run(
                [*_ir.callgrind_prefix(out, toggle=None), sys.executable, "-c", code],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            counts[name] = _ir.read_ir(out)
    return {"import_ir": counts["import"] - counts["bare"], "bare_interpreter_ir": counts["bare"]}


def imports(bench: Bench | None, opts: Options, log: Log) -> dict[str, Any]:
    """``python -X importtime -c "import cloutility_async"``, as installed here (click
    installed: ``import httpx`` then imports its command line, rich and pygments) and
    as a plain install would have it (``click`` made unimportable)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    # Byte-compiled, as pip installs it: otherwise (PYTHONDONTWRITEBYTECODE, or a module
    # edited since its .pyc) every run would compile those modules again and time that.
    _ir.compile_tree(REPO / "cloutility_async")
    variants = {
        "this_venv": "import cloutility_async",
        "without_httpx_cli": "import sys; sys.modules['click'] = None; import cloutility_async",
    }
    result: dict[str, Any] = {"click_installed": importlib.util.find_spec("click") is not None}
    for name, code in variants.items():
        runs = [_import_once(env, code) for _ in range(opts.import_runs)]
        packages = {k for r in runs for k in r["by_package"]}
        parts = {k: median([r["by_package"].get(k, 0.0) for r in runs]) for k in packages}
        heaviest = sorted(((ms, k) for k, ms in parts.items()), reverse=True)[:8]
        result[name] = {
            "cumulative_ms": median([r["sdk_ms"] for r in runs]),
            "runs_ms": [round(r["sdk_ms"], 1) for r in runs],
            "all_top_level_ms": median([r["all_top_level_ms"] for r in runs]),
            "modules": runs[0]["modules"],
            "own_ms_by_package": {k: round(ms, 1) for ms, k in heaviest},
        }
    bare = []
    for _ in range(opts.import_runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
        bare.append(time.perf_counter() - started)
    result["bare_interpreter_ms"] = median(bare) * 1000
    result["cumulative_ms"] = result["this_venv"]["cumulative_ms"]
    if not opts.quick and _ir.valgrind() is not None:
        result["instructions"] = _import_instructions(env)
    log(
        f"  import cloutility_async: {result['this_venv']['cumulative_ms']:.0f} ms here"
        f" (click installed: {result['click_installed']}),"
        f" {result['without_httpx_cli']['cumulative_ms']:.0f} ms without httpx's CLI"
        f" (medians of {opts.import_runs})"
        + (
            f"; {result['instructions']['import_ir'] / 1e6:,.1f}M instructions over a bare"
            " interpreter (callgrind)"
            if "instructions" in result
            else ""
        )
    )
    return result
