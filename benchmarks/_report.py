"""The report: the markdown tables and the results files (the targets: ``_targets.py``).

A results file holds figures, the machine and the commit, never a credential (workers
get those from the environment and nothing here reads it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import label
from _targets import before_figures, kilo

Report = dict[str, Any]


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, paths strings."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write(report: Report, output: Path, text: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(clean(report), indent=2, allow_nan=False) + "\n")
    output.with_suffix(".md").write_text(text)


def _met(met: bool | None) -> str:
    return "n/a" if met is None else "yes" if met else "NO"  # n/a: the figure says why


def header(report: Report) -> list[str]:
    m, rev = report["machine"], report["revision"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    dirty = " plus uncommitted changes" if rev["dirty"] else ""
    return [
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['implementation']} {m['python']},"
        f" {m['platform']}; {m['valgrind'] or 'no valgrind'}; {libs}.",
        "",
        f"Commit measured: `{str(rev['commit'])[:12]}` ({rev['subject']}){dirty}; the SDK"
        f" last changed in `{str(rev.get('sdk_commit'))[:12]}`."
        f" Run {report['date']} ({report['mode']} mode, {report['elapsed_s']:.0f} s).",
        "",
    ]


def targets_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | goal | measured | met |", "|---|---|---|---|"]
    for t in rows:
        lines.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {_met(t['met'])} |")
    return lines


def ir_table(ir: Report) -> list[str]:
    lines = [
        f"**Instructions** (callgrind, `--toggle-collect={ir['toggle_collect']}`: the event"
        f" loop's run only; each client in its own process at {ir['counts'][0]:,} and"
        f" {ir['counts'][1]:,} requests, {ir['concurrency']} in flight; per request ="
        " (Ir(large) - Ir(small)) / (large - small)).",
        "",
        "| client | workload | Ir/request | Ir small | Ir large | failed |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for f in ir["figures"].values():
        lines.append(
            f"| {label(f['client'])} | {f['workload']} | {kilo(f['ir_per_request'])}"
            f" | {f['ir'][0]:,} | {f['ir'][1]:,} | {f['failed']} |"
        )
    lines.append("")
    lines += [f"{name}: {value:.2f}x" + "  " for name, value in ir["ratios"].items()]
    return [*lines, ""]


def _cpu(cpu: Report) -> list[str]:
    lines = [
        f"**CPU-bound, wall clock**: {cpu['consumers']:,} consumers x 4 requests, no"
        f" latency, {cpu['concurrency']} in flight; median of"
        f" {cpu['summary']['sdk']['rounds']} alternating rounds.",
        "",
        "| client | wall s | client CPU ms/request | requests/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, r in cpu["summary"].items():
        lines.append(
            f"| {label(kind)} ({r['requests']:,} requests) | {r['wall_s']:.2f}"
            f" | {r['cpu_ms_per_request']:.3f} | {r['requests_per_s']:,.0f}"
            f" | {r['peak_rss_mb']:.1f} |"
        )
    for name, r in cpu["ratios"].items():
        lines.append(
            f"\n{name}: CPU/request {r['cpu_per_request']['median']:.2f}x"
            f" (rounds {r['cpu_per_request']['per_round']}),"
            f" wall per request {r['wall_per_request']['median']:.2f}x"
        )
    if "requests" in cpu["summary"]:
        r = cpu["summary"]["requests"]
        lines.append(
            f"\nreference (requests, one call after another, {r['requests']} requests):"
            f" {r['wall_s'] / r['requests'] * 1000:.2f} ms wall and"
            f" {r['cpu_ms_per_request']:.3f} ms CPU per request; the"
            f" {cpu['requests_per_run']:,} requests would take"
            f" {r['wall_s'] / r['requests'] * cpu['requests_per_run']:.1f} s"
            f" (SDK: {cpu['summary']['sdk']['wall_s']:.1f} s)"
        )
    return [*lines, ""]


def _latency(lat: Report) -> list[str]:
    lines = [
        f"**Latency-bound**: {lat['latency_ms']:.0f} ms server latency,"
        f" {lat['requests_per_run']:,} requests, {lat['concurrency']} in flight;"
        f" ideal {lat['ideal_wall_s']:.2f} s.",
        "",
        "| client | wall s | x ideal | client CPU ms/request | simulator CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, r in lat["summary"].items():
        lines.append(
            f"| {label(kind)} | {r['wall_s']:.2f} | {r['wall_vs_ideal']:.2f}"
            f" | {r['cpu_ms_per_request']:.3f} | {r['server_cpu_s']:.2f} |"
        )
    ratio = lat["sdk_over_aiohttp_wall"]
    lines.append(f"\nsdk/aiohttp wall: {ratio['median']:.2f}x (rounds {ratio['per_round']})")
    return [*lines, ""]


def _churn(churn: Report) -> list[str]:
    i, o = churn["inside_windows"], churn["outside_windows"]
    return [
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


def _stream(mem: Report) -> list[str]:
    lines = [
        "**Streaming audit memory** (`walk_consumers()` + `map`, results not kept,"
        f" {mem['routes_per_consumer']} requests per consumer): baseline RSS"
        f" {mem['baseline_rss_mb']:.1f} MB after import and login.",
        "",
        "| consumers | peak RSS growth MB | seconds |",
        "|---:|---:|---:|",
    ]
    for mark in mem["checkpoints"]:
        lines.append(
            f"| {mark['consumers']:,} | {mark['peak_rss_growth_mb']:.1f} | {mark['seconds']:.1f} |"
        )
    return [*lines, ""]


def _models(models: Report) -> list[str]:
    return [
        f"**Model memory**: a structured {models['model']} kept costs"
        f" {models['model_bytes_each']:,.0f} B (tracemalloc, {models['count']:,} kept), its"
        f" JSON dict alone ({models.get('parser', 'json')}.loads, the SDK's parser)"
        f" {models['dict_bytes_each']:,.0f} B (body"
        f" {models['body_bytes_each']:,.0f} B): {models['over_dict_bytes_each']:,.0f} B over"
        " the dict.",
        "",
    ]


def _in_flight(flight: Report) -> list[str]:
    g = flight["rss_growth_mb"]
    return [
        f"**In flight**: {flight['in_flight']:,} typed GETs at once: peak RSS growth"
        f" {g['sdk']:.1f} MB (SDK) vs {g['aiohttp']:.1f} MB (raw aiohttp), median of"
        f" {len(flight['runs'])} alternating rounds; per round"
        f" {flight['sdk_over_aiohttp']['per_round']}.",
        "",
    ]


def _import(imp: Report) -> list[str]:
    here, plain = imp["this_venv"], imp["without_httpx_cli"]
    return [
        f'**Import**: `python -X importtime -c "import cloutility_async"`:'
        f" {here['cumulative_ms']:.0f} ms cumulative (median of {len(here['runs_ms'])};"
        f" click installed: {'yes' if imp['click_installed'] else 'no'}; every top-level"
        f" import of the process together, the interpreter's own included:"
        f" {here['all_top_level_ms']:.0f} ms); {plain['cumulative_ms']:.0f} ms without"
        " httpx's command-line dependencies (click, rich, pygments). Where the time"
        " goes (own time of the modules loaded, by package, without the CLI ones): "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in plain["own_ms_by_package"].items())
        + f"; the bare interpreter starts in {imp['bare_interpreter_ms']:.0f} ms."
        + (
            f" In instructions (callgrind, load-independent): {ir['import_ir'] / 1e6:,.1f}M"
            f" over the bare interpreter's {ir['bare_interpreter_ir'] / 1e6:,.1f}M."
            if (ir := imp.get("instructions"))
            else ""
        ),
        "",
    ]


#: The markdown's sections, in order: (scenario, its lines).
SECTIONS: list[tuple[str, Callable[[Report], list[str]]]] = [
    ("ir", ir_table),
    ("cpu", _cpu),
    ("latency", _latency),
    ("churn", _churn),
    ("memory", _stream),
    ("models", _models),
    ("inflight", _in_flight),
    ("import", _import),
]


def markdown(report: Report) -> str:
    lines = header(report)
    for name, section in SECTIONS:
        if report["scenarios"].get(name):
            lines += section(report["scenarios"][name])
    lines += targets_table(report["targets"])
    return "\n".join(lines) + "\n"


def new(benchmark: str, mode: str, options: dict[str, Any]) -> Report:
    """A report's frame: what ran, when, on which machine and commit."""
    import time

    from _common import git_revision, machine

    return {
        "benchmark": benchmark,
        "mode": mode,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "revision": git_revision(),
        "options": clean(options),
        "scenarios": {},
    }


def load_before(path: Path) -> Report | None:
    return json.loads(path.read_text()) if path.exists() else None


def write_before(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(before_figures(report)), indent=2) + "\n")
