"""Instructions per request (callgrind), and the SDK of two revisions side by side.

Run (valgrind must be installed: ``apt-get install valgrind``):

  python benchmarks/ir.py
      issue 16's instruction counts: the typed consumer GET and the four-route bulk
      audit, the SDK against raw aiohttp (json; orjson when installed), and the SDK on
      trio against asyncio; writes ``benchmarks/results/ir.json`` and ``ir.md``.
  python benchmarks/ir.py --compare main
      the SDK of ``main`` against this working tree's (uncommitted changes included),
      with the same worker code, server and interpreter: Ir/request of each and the ratio.
  python benchmarks/ir.py --compare HEAD~3 --head HEAD --workloads get --clients sdk,sdk-trio

Each client runs in its own process under ``valgrind --tool=callgrind
--toggle-collect=context_run`` at two request counts (``--counts``, 200 and 1,200); the
figure is (Ir(large) - Ir(small)) / (large - small), so interpreter start, imports,
login, warm-up and connecting stay out. See ``_ir.py`` and ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ir
import _report
import _targets
from _bench import CLIENTS, Bench, label
from _common import REPO, RESULTS_DIR, git_revision


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--compare", metavar="REV", help="compare the SDK of REV with --head's")
    add("--head", metavar="REV", help="the other side of --compare (default: the working tree)")
    add("--workloads", default="get,audit", help="--compare: get, audit or both (get,audit)")
    add(
        "--clients", default="sdk", help="--compare: SDK kinds (sdk, sdk-trio, sdk-httpx, sdk-otel)"
    )
    add("--counts", default="200,1200", help="the two request counts (200,1200)")
    add("--repeat", type=int, default=1, help="--compare: runs of each side, alternating")
    add("--concurrency", type=int, default=64, help="requests in flight (64)")
    add("--jobs", type=int, default=2, help="valgrind processes at once (no effect on counts)")
    add("--keep", type=Path, help="keep the callgrind profiles here (for callgrind_annotate)")
    add("--output", type=Path, help="results JSON (default: results/ir.json; --compare: none)")
    opts = parser.parse_args(argv)
    opts.ir_counts = [int(x) for x in opts.counts.split(",")]
    if len(opts.ir_counts) != 2 or not 0 < opts.ir_counts[0] < opts.ir_counts[1]:
        parser.error("--counts takes two increasing request counts, e.g. 200,1200")
    opts.workloads = [x for x in opts.workloads.split(",") if x]
    opts.clients = [x for x in opts.clients.split(",") if x]
    for kind in opts.clients:
        if kind not in CLIENTS or CLIENTS[kind][1][0] != "sdk":
            parser.error(f"--clients: {kind!r} is not an SDK client kind")
    if opts.keep:
        opts.keep.mkdir(parents=True, exist_ok=True)
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    if _ir.valgrind() is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    # A terminated run still stops its workers and its simulator (Bench.__exit__).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)

    options = {k: v for k, v in vars(opts).items() if k not in ("output", "keep")}
    consumers = max(opts.ir_counts) + opts.concurrency
    if opts.compare:
        return compare(opts, options, consumers, log, started)
    report = _report.new("ir", "full", options)
    with Bench(consumers=consumers, warm=consumers, concurrency=opts.concurrency, log=log) as b:
        report["scenarios"]["ir"] = _ir.scenario(b, opts, log)
    report["elapsed_s"] = time.perf_counter() - started
    report["targets"] = _targets.targets(report, None)
    text = _report.markdown(report)
    output = opts.output or RESULTS_DIR / "ir.json"
    _report.write(report, output, text)
    print()
    print(text)
    print(f"wrote {output} and {output.with_suffix('.md').name}")
    return 0


def compare(
    opts: argparse.Namespace, options: dict[str, object], consumers: int, log: _ir.Log,
    started: float,
) -> int:  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench_sdk_"))
    try:
        base = _ir.export_sdk(opts.compare, tmp / "base")
        sides = {"base": tmp / "base"}
        if opts.head:
            head = _ir.export_sdk(opts.head, tmp / "head")
            sides["head"] = tmp / "head"
        else:
            head = {"rev": "working tree", **git_revision(paths=["cloutility_async"])}
            _ir.compile_tree(REPO / "cloutility_async")
            sides["head"] = REPO
        log(f"base: {base['rev']} = {base['commit'][:12]} ({base['subject']})")
        log(f"head: {head['rev']} = {str(head['commit'])[:12]} ({head['subject']})"
            + (" plus uncommitted changes" if head.get("dirty") else ""))  # fmt: skip
        with Bench(
            consumers=consumers, warm=consumers, concurrency=opts.concurrency, log=log
        ) as bench:
            result = _ir.compare(
                bench,
                sides,
                kinds=opts.clients,
                workloads=opts.workloads,
                counts=tuple(opts.ir_counts),
                repeat=opts.repeat,
                jobs=opts.jobs,
                keep=opts.keep,
                log=log,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = _report.new("ir_compare", "compare", options)
    report.update(base=base, head=head, compare=result, elapsed_s=time.perf_counter() - started)
    lines = [
        f"base: {base['rev']} ({base['commit'][:12]}: {base['subject']})",
        f"head: {head['rev']} ({str(head['commit'])[:12]}: {head['subject']})"
        + (" plus uncommitted changes" if head.get("dirty") else ""),
        "",
        "| client | workload | base Ir/request | head Ir/request | head/base | spread |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        b = ", ".join(f"{x / 1000:,.1f}k" for x in row["base_ir_per_request"])
        h = ", ".join(f"{x / 1000:,.1f}k" for x in row["head_ir_per_request"])
        lines.append(
            f"| {label(row['client'])} | {row['workload']} | {b} | {h} | {row['ratio']:.4f}"
            f" ({(row['ratio'] - 1) * 100:+.2f}%) | {row['spread'] * 100:.2f}% |"
        )
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if opts.output:
        _report.write(report, opts.output, text)
        print(f"wrote {opts.output} and {opts.output.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
