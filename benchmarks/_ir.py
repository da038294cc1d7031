"""Instruction counts: each client in its own process under callgrind, at two sizes.

A worker runs under ``valgrind --tool=callgrind --toggle-collect=context_run``: the
workers enter their event loop through one ``contextvars.Context.run`` (see
``_workers._shared.run_collected``), so callgrind counts the instructions of the whole
loop run (login, warm-up, the requests, the scheduler) and none of the interpreter's
start, the imports or the exit. Each client runs at two request counts; the
per-request figure is ``(Ir(large) - Ir(small)) / (large - small)``, so what every run
does once (login, warm-up, lazy set-up, connecting) cancels out. The server runs
natively in its own process; ``PYTHONHASHSEED=0`` and a keep-alive longer than any
valgrind run make the counts repeat to about 0.01% whatever the machine's load.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _bench import Bench, Log, stop_workers
from _common import REPO, median

#: The C function whose outermost call brackets what callgrind counts (CPython 3.11's
#: ``contextvars.Context.run``; asyncio's ``Handle._run`` and trio's ``unrolled_run``
#: run every step through it too, which callgrind sees as nested, not as toggles).
TOGGLE = "context_run"
ROUTES = {"get": 1, "audit": 4}
#: The server while counting: no latency, and tokens that outlive the slowest run under
#: valgrind (a refresh grant in one run and not in the other would count as requests).
IR_SERVER = {"latency_ms": 0, "include_oauth": False, "token_lifetime": 3600.0}


def valgrind() -> str | None:
    return shutil.which("valgrind")


def callgrind_prefix(out_file: Path, *, toggle: str | None = TOGGLE) -> list[str]:
    """The command before the interpreter: a lower priority (the server and the rest of
    the machine go first; counts do not depend on it), then callgrind, collecting only
    inside ``toggle`` (everything with None)."""
    collect = [f"--toggle-collect={toggle}"] if toggle else []
    return [
        "nice", "-n", "10",
        "valgrind", "--tool=callgrind", *collect, f"--callgrind-out-file={out_file}",
    ]  # fmt: skip


def read_ir(out_file: Path) -> int:
    """The total instruction count of a callgrind profile (its ``totals:`` line)."""
    for line in out_file.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out_file}")


def call_counts(out_file: Path) -> dict[str, int]:
    """How often each function was called while collecting, from a callgrind profile
    (names without callgrind's ``'N`` recursion suffix)."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    callee = ""
    for line in out_file.read_text().splitlines():
        if line.startswith(("fn=", "cfn=")):
            key, _, rest = line.partition("=")
            ref, _, name = rest.partition(" ")
            if ref.startswith("("):  # compressed: "(id) name" defines, "(id)" reuses
                name = names.setdefault(ref, name) if name else names.get(ref, ref)
            else:
                name = rest
            if key == "cfn":
                callee = name.split("'")[0]
        elif line.startswith("calls="):
            counts[callee] = counts.get(callee, 0) + int(line[6:].split()[0])
    return counts


class Counter:
    """Runs workers under callgrind against a ``Bench``; keeps profiles in ``keep``."""

    def __init__(self, bench: Bench, *, jobs: int, keep: Path | None, log: Log) -> None:
        if valgrind() is None:
            raise RuntimeError("valgrind is not installed (Debian: apt-get install valgrind)")
        self.bench = bench
        self.jobs = max(1, jobs)
        self.keep = keep
        self.log = log
        self._tmp = Path(tempfile.mkdtemp(prefix="bench_callgrind_"))
        self._serial = itertools.count(1)  # next() is atomic: threads share it

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _one(self, kind: str, workload: str, requests: int, tag: str, env: dict[str, str],
             extra: Sequence[str]) -> dict[str, Any]:  # fmt: skip
        name = f"callgrind.{tag}.{workload}.{requests}.{next(self._serial)}.out"
        out = (self.keep or self._tmp) / name
        result = self.bench.run(
            kind,
            requests // ROUTES[workload],
            extra=["--workload", workload, *extra],
            timeout=3600,
            prefix=callgrind_prefix(out),
            env={"PYTHONHASHSEED": "0", **env},
        )
        result["ir"] = read_ir(out)
        result["profile"] = str(out) if self.keep else None
        self.log(f"    {tag} {workload} at {requests}: {result['ir']:,} Ir")
        if not self.keep:
            out.unlink()
        return result

    def measure(self, plans: Sequence[Plan]) -> list[dict[str, Any]]:
        """Every plan at both of its sizes, ``jobs`` processes at a time, in the order
        given (small sizes first, so that the sides of a comparison interleave)."""
        self.bench.start()
        for plan in plans:  # before any thread: Bench.pairs_file is not thread-safe
            for n in plan.counts:
                self.bench.pairs_file(n // ROUTES[plan.workload])
        tasks = [(plan, n) for i in range(2) for plan in plans for n in plan.counts[i : i + 1]]
        pool = ThreadPoolExecutor(self.jobs)
        try:
            futures = [
                pool.submit(self._one, p.kind, p.workload, n, p.tag, p.env, p.extra)
                for p, n in tasks
            ]
            runs = [f.result() for f in futures]
        except BaseException:  # a failed run or a signal: start no other, stop the rest
            pool.shutdown(wait=False, cancel_futures=True)
            stop_workers()
            raise
        pool.shutdown()
        by_plan: dict[int, list[dict[str, Any]]] = {}
        for (plan, _), run in zip(tasks, runs, strict=True):
            by_plan.setdefault(id(plan), []).append(run)
        out = [plan.summary(by_plan[id(plan)]) for plan in plans]
        for s in out:
            per = s["ir_per_request"] / 1000
            self.log(
                f"  {s['tag']:<16} {s['workload']:<5} {per:8,.1f}k Ir/request"
                f"  (Ir {s['ir'][0]:,} at {s['counts'][0]}, {s['ir'][1]:,} at {s['counts'][1]};"
                f" failed {s['failed']}, retries {s['retries']})"
            )
        return out


class Plan:
    """One client (``kind``) on one workload at two request counts."""

    def __init__(
        self,
        kind: str,
        workload: str,
        counts: tuple[int, int],
        *,
        tag: str | None = None,
        env: dict[str, str] | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        self.kind = kind
        self.workload = workload
        self.counts = counts
        self.tag = tag or kind
        self.env = env or {}
        self.extra = tuple(extra)

    def summary(self, runs: list[dict[str, Any]]) -> dict[str, Any]:
        small, large = sorted(runs, key=lambda r: r["requests"])
        return {
            "tag": self.tag,
            "client": self.kind,
            "workload": self.workload,
            "counts": [small["requests"], large["requests"]],
            "ir": [small["ir"], large["ir"]],
            "ir_per_request": (large["ir"] - small["ir"]) / (large["requests"] - small["requests"]),
            "failed": small["failed_audits"] + large["failed_audits"],
            "retries": small.get("retries", 0) + large.get("retries", 0),
            "grants_while_timed": small.get("grants", 0) + large.get("grants", 0),
            "sdk": large.get("sdk"),
            "parser": large.get("parser"),
            "profiles": [small["profile"], large["profile"]],
        }


# -- the scenario: issue 16's figures -----------------------------------------------------


def scenario(bench: Bench, opts: Any, log: Log) -> dict[str, Any]:
    """Ir/request of the SDK and raw aiohttp on the typed GET and the bulk audit, with and
    without orjson, and of the SDK on trio."""
    import importlib.util

    bench.start().configure(**IR_SERVER)
    probe = bench.run("sdk", 64, extra=["--workload", "get", "--warmup", "0"])
    sdk_loads_orjson = "orjson" in probe["sdk"]["json_modules"]
    orjson_installed = importlib.util.find_spec("orjson") is not None
    counts = tuple(opts.ir_counts)
    plans = [Plan("sdk", "get", counts), Plan("aiohttp", "get", counts)]
    if orjson_installed:
        plans.append(Plan("aiohttp-orjson", "get", counts))
        if sdk_loads_orjson:
            plans.append(Plan("sdk-no-orjson", "get", counts))
    plans += [
        Plan("sdk", "audit", counts),
        Plan("aiohttp", "audit", counts),
        Plan("sdk-trio", "audit", counts),
    ]
    counter = Counter(bench, jobs=opts.jobs, keep=opts.keep, log=log)
    try:
        measured = counter.measure(plans)
    finally:
        counter.close()
    figures = {f"{m['tag']}/{m['workload']}": m for m in measured}
    per = {key: m["ir_per_request"] for key, m in figures.items()}
    sdk_json = per.get("sdk-no-orjson/get", per["sdk/get"])
    ratios = {
        "get: sdk/aiohttp+json": sdk_json / per["aiohttp/get"],
        "audit: sdk/aiohttp+json": per["sdk/audit"] / per["aiohttp/audit"],
        "audit: sdk trio/sdk asyncio": per["sdk-trio/audit"] / per["sdk/audit"],
    }
    if "aiohttp-orjson/get" in per:
        ratios["get: sdk/aiohttp+orjson"] = per["sdk/get"] / per["aiohttp-orjson/get"]
    return {
        "toggle_collect": TOGGLE,
        "counts": list(counts),
        "concurrency": bench.concurrency,
        "orjson_installed": orjson_installed,
        "sdk_loads_orjson": sdk_loads_orjson,
        "ir_per_request": per,
        "ratios": ratios,
        "figures": figures,
    }


# -- comparing the SDK of two revisions ---------------------------------------------------


def export_sdk(rev: str, into: Path) -> dict[str, str]:
    """``cloutility_async/`` as of ``rev`` (``git archive``), byte-compiled, in ``into``."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "cloutility_async"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    compile_tree(into / "cloutility_async")
    return {"rev": rev, "commit": commit, "subject": _git("log", "-1", "--format=%s", commit)}


def compile_tree(package: Path) -> None:
    """Byte-compile natively, so that no run under valgrind compiles a module."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(package)], check=True, capture_output=True
    )


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def compare(
    bench: Bench,
    sides: dict[str, Path],
    *,
    kinds: Sequence[str],
    workloads: Sequence[str],
    counts: tuple[int, int],
    repeat: int,
    jobs: int,
    keep: Path | None,
    log: Log,
) -> dict[str, Any]:
    """Ir/request of each client kind and workload with the SDK of each side (a tree
    holding ``cloutility_async/``), the sides interleaved, ``repeat`` times."""
    bench.start().configure(**IR_SERVER)
    names = list(sides)
    plans: list[Plan] = []
    for i in range(repeat):
        order = names if i % 2 == 0 else names[::-1]
        for kind in kinds:
            for workload in workloads:
                for side in order:
                    env = {"PYTHONPATH": str(sides[side])}
                    plans.append(Plan(kind, workload, counts, tag=side, env=env))
    counter = Counter(bench, jobs=jobs, keep=keep, log=log)
    try:
        measured = counter.measure(plans)
    finally:
        counter.close()
    for plan, m in zip(plans, measured, strict=True):
        expected = sides[plan.tag] / "cloutility_async"
        if not Path(m["sdk"]["path"]).resolve().is_relative_to(expected.resolve()):
            raise RuntimeError(f"{plan.tag}: the worker imported {m['sdk']['path']}")
        m["kind"] = plan.kind
    rows = []
    base, head = names
    for kind in kinds:
        for workload in workloads:
            of = {
                side: [m["ir_per_request"] for m in measured
                       if m["tag"] == side and m["kind"] == kind and m["workload"] == workload]
                for side in names
            }  # fmt: skip
            b, h = median(of[base]), median(of[head])
            rows.append({
                "client": kind,
                "workload": workload,
                f"{base}_ir_per_request": of[base],
                f"{head}_ir_per_request": of[head],
                "ratio": h / b,
                "spread": max(max(v) / min(v) - 1 for v in of.values()),
            })  # fmt: skip
    return {"counts": list(counts), "repeat": repeat, "rows": rows, "figures": measured}
