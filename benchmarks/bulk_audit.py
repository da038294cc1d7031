"""Bulk audits through the SDK, raw aiohttp, raw httpx and the reference's sequential script.

Run: ``python benchmarks/bulk_audit.py`` (every scenario, instruction counts included:
about 20 minutes on 2 shared cores; ``--quick``: a smoke run of about 30 seconds without
valgrind, the mode the test suite calls).  ``--help`` lists sizes; ``ir.py`` runs the
instruction counts alone and compares two revisions of the SDK.

The audit: for every consumer, ``GET .../consumers/{c}``, ``.../node``,
``.../reports/latest`` and ``.../jobs`` (4 requests; a 404 for a consumer without a node
or a report counts as an answer).  The simulator runs as a real server on loopback in its
own process (``_simserver.py``), warmed up once.  Every client runs in a fresh
interpreter (``_worker.py``, one module per client in ``_workers/``), so its CPU seconds,
peak RSS and instructions are its own.  Every client gets the consumer list up front.

Scenarios:
  ir        instructions per request under callgrind (``_ir.py``): the typed consumer
            GET and the bulk audit, SDK vs raw aiohttp (json, orjson), SDK on trio.
  cpu       wall clock, no latency, 64 in flight: client CPU per request of every client,
            alternating rounds, medians of per-round ratios.
  latency   20 ms server latency, 64 in flight: wall time against requests x latency / 64.
  churn     5 s tokens during a 30 s paced run: grants, token waits, latency percentiles
            inside and outside refresh windows.
  memory    streaming audit (walk_consumers + map, nothing kept) of 20,000 consumers:
            peak RSS growth at 5,000 and at 20,000.
  inflight  1,000 typed GETs in flight at once: peak RSS growth, SDK vs raw aiohttp.
  models    a structured Consumer's bytes over its JSON dict (tracemalloc).
  import    ``python -X importtime -c "import cloutility_async"``.

Writes ``benchmarks/results/bulk_audit.json`` (``bulk_audit_quick.json`` with
``--quick``) and the same tables as markdown (``.md``), with issue 16's targets table.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ir
import _report
import _scenarios
import _targets
from _bench import Bench
from _common import RESULTS_DIR

SCENARIOS = {
    "ir": _ir.scenario,
    "cpu": _scenarios.cpu,
    "latency": _scenarios.latency,
    "churn": _scenarios.churn,
    "memory": _scenarios.memory,
    "inflight": _scenarios.inflight,
    "models": _scenarios.models,
    "import": _scenarios.imports,
}
QUICK_SCENARIOS = [name for name in SCENARIOS if name != "ir"]

#: Option: (quick, full) default.
DEFAULTS: dict[str, tuple[Any, Any]] = {
    "scenarios": (",".join(QUICK_SCENARIOS), ",".join(SCENARIOS)),
    "consumers": (250, 2000),
    "rounds": (1, 3),
    "httpx_consumers": (100, 250),
    "sequential_consumers": (10, 25),
    "latency_rounds": (1, 3),
    "token_lifetime": (2.0, 5.0),
    "churn_seconds": (4.0, 30.0),
    "churn_consumers": (250, 500),
    "memory_consumers": ("300,1200", "5000,20000"),
    "in_flight_rounds": (1, 3),
    "model_consumers": (200, 1000),
    "import_runs": (5, 15),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes, no valgrind (about 30 s): for tests")
    add("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)} (quick: no ir)")
    add("--consumers", type=int, help="consumers audited, wall clock (2000; quick 250)")
    add("--concurrency", type=int, default=64, help="requests in flight (64)")
    add("--rounds", type=int, help="alternating rounds, CPU-bound (3; quick 1)")
    add("--httpx-consumers", type=int, help="consumers for raw httpx, CPU-bound (250; quick 100)")
    add("--sequential-consumers", type=int, help="consumers for the requests script (25; 10)")
    add("--extra-clients", default="", help="also in the CPU-bound scenario: sdk-httpx, sdk-trio")
    add("--ir-counts", default="200,1200", help="instruction counts: the two request counts")
    add("--jobs", type=int, default=2, help="valgrind processes at once (no effect on counts)")
    add("--keep", type=Path, help="keep the callgrind profiles in this directory")
    add("--latency-ms", type=float, default=20.0)
    add("--latency-rounds", type=int, help="rounds, latency-bound (3; quick 1)")
    add("--token-lifetime", type=float, help="seconds (5; quick 2)")
    add("--churn-seconds", type=float, help="(30; quick 4)")
    add("--churn-rate", type=float, default=100.0, help="audits per second")
    add("--churn-latency-ms", type=float, default=20.0)
    add("--churn-consumers", type=int, help="(500; quick 250)")
    add("--refresh-margin", type=float, help="the SDK's refresh_margin (token lifetime / 5)")
    add("--memory-consumers", help="streaming-audit checkpoints (5000,20000; quick 300,1200)")
    add("--memory-routes", type=int, default=2, choices=(2, 4), help="requests per consumer")
    add("--in-flight", type=int, default=1000, help="typed GETs in flight at once, memory")
    add("--in-flight-rounds", type=int, help="alternating rounds of it (3; quick 1)")
    add("--model-consumers", type=int, help="structured models kept, memory (1000; quick 200)")
    add("--import-runs", type=int, help="runs of each import variant (15; quick 5)")
    add("--before", type=Path, default=RESULTS_DIR / "before.json",
        help="the figures the no-regression targets compare with")  # fmt: skip
    add("--save-before", action="store_true", help="write this run's figures as --before")
    add("--output", type=Path, help="results JSON (benchmarks/results/bulk_audit[_quick].json)")
    opts = parser.parse_args(argv)
    for name, (quick, full) in DEFAULTS.items():
        if getattr(opts, name) is None:
            setattr(opts, name, quick if opts.quick else full)
    opts.scenarios = [x for x in opts.scenarios.split(",") if x]
    unknown = set(opts.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    opts.memory_consumers = [int(x) for x in str(opts.memory_consumers).split(",")]
    opts.extra_clients = [x for x in opts.extra_clients.split(",") if x]
    opts.ir_counts = [int(x) for x in opts.ir_counts.split(",")]
    return opts


def consumers_needed(opts: argparse.Namespace) -> tuple[int, int]:
    """How many consumers the simulator needs, and how many to warm up."""
    used = {
        "ir": max(opts.ir_counts) + opts.concurrency,
        "cpu": opts.consumers,
        "latency": opts.consumers,
        "churn": opts.churn_consumers,
        "memory": max(opts.memory_consumers),
        "inflight": opts.in_flight,
        "models": opts.model_consumers + opts.concurrency,
    }
    wanted = [used[s] for s in opts.scenarios if s in used] or [opts.concurrency]
    warmed = [used[s] for s in opts.scenarios if s in ("ir", "cpu", "latency", "churn")]
    return max(wanted), max(warmed, default=0)


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    # A terminated run still stops its simulator (Bench.__exit__).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)

    if "ir" in opts.scenarios and _ir.valgrind() is None:
        log("valgrind is not installed: no instruction counts (Debian: apt-get install valgrind)")
        opts.scenarios.remove("ir")
    internal = ("output", "before", "save_before", "keep")
    options = {k: v for k, v in vars(opts).items() if k not in internal}
    report = _report.new("bulk_audit", "quick" if opts.quick else "full", options)
    consumers, warm = consumers_needed(opts)
    with Bench(consumers=consumers, warm=warm, concurrency=opts.concurrency, log=log) as bench:
        for name in opts.scenarios:
            log(f"scenario {name}")
            report["scenarios"][name] = SCENARIOS[name](bench, opts, log)
    report["elapsed_s"] = time.perf_counter() - started
    report["targets"] = _targets.targets(report, _report.load_before(opts.before))
    output = opts.output or RESULTS_DIR / (
        "bulk_audit_quick.json" if opts.quick else "bulk_audit.json"
    )
    text = _report.markdown(report)
    _report.write(report, output, text)
    if opts.save_before:
        _report.write_before(report, opts.before)
    print()
    print(text)
    print(f"wrote {output} and {output.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
