"""The report: issue 16's targets table, the markdown tables and the results files.

A results file holds figures, the machine and the commit, never a credential (workers
get those from the environment and nothing here reads it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from _bench import label

Report = dict[str, Any]


def _target(name: str, goal: str, measured: str, met: bool | None) -> dict[str, Any]:
    """One row; ``met`` is None where nothing was measured or there is no before yet."""
    return {"target": name, "goal": goal, "measured": measured, "met": met}


def _k(ir: float) -> str:
    return f"{ir / 1000:,.0f}k"


def targets(report: Report, before: Report | None) -> list[dict[str, Any]]:
    """Issue 16's targets, each with its figure from this run and met / not met."""
    s = report["scenarios"]
    out: list[dict[str, Any]] = []
    ir = s.get("ir")
    if ir:
        per, ratios = ir["ir_per_request"], ir["ratios"]
        sdk_json = per.get("sdk-no-orjson/get", per["sdk/get"])
        r = ratios["get: sdk/aiohttp+json"]
        out.append(_target(
            "1. CPU per typed consumer GET, 64 in flight, vs raw aiohttp + json (instructions)",
            "<= 1.2x",
            f"{r:.2f}x ({_k(sdk_json)} vs {_k(per['aiohttp/get'])} Ir/request)",
            r <= 1.2,
        ))  # fmt: skip
        if "get: sdk/aiohttp+orjson" in ratios:
            r = ratios["get: sdk/aiohttp+orjson"]
            uses = "uses" if ir["sdk_loads_orjson"] else "does not use"
            out.append(_target(
                "1. the same vs raw aiohttp + orjson (instructions)",
                "<= 1.2x",
                f"{r:.2f}x ({_k(per['sdk/get'])} vs {_k(per['aiohttp-orjson/get'])} Ir/request;"
                f" the SDK {uses} orjson)",
                r <= 1.2,
            ))  # fmt: skip
        else:
            out.append(_target("1. the same vs raw aiohttp + orjson (instructions)", "<= 1.2x",
                               "orjson is not installed: not measured", None))  # fmt: skip
        r = ratios["audit: sdk/aiohttp+json"]
        out.append(_target(
            "1. CPU per request, four-route bulk audit, vs raw aiohttp + json (instructions)",
            "<= 1.2x",
            f"{r:.2f}x ({_k(per['sdk/audit'])} vs {_k(per['aiohttp/audit'])} Ir/request)",
            r <= 1.2,
        ))  # fmt: skip
    cpu = s.get("cpu")
    if cpu:
        r = cpu["ratios"]["sdk/aiohttp"]["cpu_per_request"]["median"]
        out.append(_target(
            "1. CPU per request, four-route bulk audit, vs raw aiohttp (wall-clock CPU)",
            "<= 1.2x",
            f"{r:.2f}x (median of per-round ratios"
            f" {cpu['ratios']['sdk/aiohttp']['cpu_per_request']['per_round']})",
            r <= 1.2,
        ))  # fmt: skip
    if ir:
        r = ir["ratios"]["audit: sdk trio/sdk asyncio"]
        out.append(_target(
            "2. trio: SDK CPU per request over the SDK's asyncio figure, bulk audit (instructions)",
            "<= 1.5x",
            f"{r:.2f}x ({_k(ir['ir_per_request']['sdk-trio/audit'])} vs"
            f" {_k(ir['ir_per_request']['sdk/audit'])} Ir/request)",
            r <= 1.5,
        ))  # fmt: skip
    imp = s.get("import")
    if imp:
        ms, plain = imp["cumulative_ms"], imp["without_httpx_cli"]["cumulative_ms"]
        click = imp["click_installed"]
        out.append(_target(
            '3. `python -X importtime -c "import cloutility_async"`, click installed',
            "<= 150 ms",
            f"{ms:.0f} ms ({plain:.0f} ms without httpx's CLI deps)"
            + ("" if click else "; click is NOT installed here"),
            ms <= 150 if click else None,
        ))  # fmt: skip
    models = s.get("models")
    if models:
        over = models["over_dict_bytes_each"]
        out.append(_target(
            f"4. a structured {models['model']} over its dict",
            "<= 1 KB",
            f"{over:,.0f} B ({models['model_bytes_each']:,.0f} B with its dict of"
            f" {models['dict_bytes_each']:,.0f} B)",
            over <= 1024,
        ))  # fmt: skip
    flight = s.get("inflight")
    if flight:
        r = flight["sdk_over_aiohttp"]["median"]
        g = flight["rss_growth_mb"]
        out.append(_target(
            f"4. RSS growth, {flight['in_flight']:,} typed GETs in flight, vs raw aiohttp",
            "<= 1.2x",
            f"{r:.2f}x ({g['sdk']:.1f} vs {g['aiohttp']:.1f} MB)",
            r <= 1.2,
        ))  # fmt: skip
    out += _no_regression(report, before)
    return out


def _no_regression(report: Report, before: Report | None) -> list[dict[str, Any]]:
    s = report["scenarios"]
    out: list[dict[str, Any]] = []
    baseline = before is None or before.get("commit") == report["revision"]["commit"]
    where = (
        "this run is the before" if baseline else f"before: {str(before['commit'])[:10]}"  # type: ignore[index]
    )
    lat = s.get("latency")
    if lat:
        r = lat["sdk_over_aiohttp_wall"]["median"]
        was = None if baseline else before["latency_sdk_over_aiohttp_wall"]  # type: ignore[index]
        out.append(_target(
            "5. latency-bound run: SDK wall over raw aiohttp's",
            "<= before x 1.1",
            f"{r:.2f}x ({lat['summary']['sdk']['wall_vs_ideal']:.2f}x the ideal"
            f" {lat['ideal_wall_s']:.2f} s; {where}"
            + ("" if was is None else f", {was:.2f}x") + ")",
            None if was is None else r <= was * 1.1,
        ))  # fmt: skip
    churn = s.get("churn")
    if churn:
        p_in = churn["inside_windows"]["p99_ms"]
        p_out = churn["outside_windows"]["p99_ms"]
        out.append(_target(
            "5. token churn: grants",
            "one per token, no waits, no failures",
            f"{churn['grants_made']} in {churn['duration_s']:.0f} s"
            f" ({churn['grants_expected']} expected: one per {churn['renew_every_s']:g} s"
            f" renewal), {churn['grant_interval_min_s']:.2f}-"
            f"{churn['grant_interval_max_s']:.2f} s apart, {churn['token_waits']} requests"
            f" waited, {churn['failed_audits']} failed",
            churn["one_grant_per_token"]
            and churn["grants_made"] == churn["grants_expected"]
            and churn["token_waits"] == 0
            and churn["failed_audits"] == 0,
        ))  # fmt: skip
        out.append(_target(
            "5. token churn: p99 latency inside refresh windows",
            "<= outside + 5 ms",
            f"{p_in:.1f} ms inside (n={churn['inside_windows']['count']}) vs"
            f" {p_out:.1f} ms outside",
            p_in <= p_out + 5,
        ))  # fmt: skip
    mem = s.get("memory")
    if mem and mem["checkpoints"]:
        first, last = mem["checkpoints"][0], mem["checkpoints"][-1]
        growth = last["peak_rss_growth_mb"]
        flat = growth <= first["peak_rss_growth_mb"] * 1.5 + 5
        was = None if baseline else before.get("stream_peak_rss_growth_mb")  # type: ignore[union-attr]
        out.append(_target(
            f"5. streaming audit peak RSS growth ({last['consumers']:,} consumers)",
            "flat, <= 150 MB and <= before x 1.2 + 2 MB",
            f"{growth:.1f} MB ({first['consumers']:,}: {first['peak_rss_growth_mb']:.1f} MB;"
            f" {where}" + ("" if was is None else f", {was:.1f} MB") + ")",
            growth <= 150 and flat and (was is None or growth <= was * 1.2 + 2),
        ))  # fmt: skip
    cpu = s.get("cpu")
    if cpu and "sdk/httpx" in cpu["ratios"]:
        r = cpu["ratios"]["sdk/httpx"]["cpu_per_request"]["median"]
        out.append(_target(
            "kept: CPU per request vs raw httpx (wall-clock CPU)", "<= 0.3x", f"{r:.2f}x",
            r <= 0.3,
        ))  # fmt: skip
    return out


def before_figures(report: Report) -> Report:
    """The figures later runs compare with (``benchmarks/results/before.json``)."""
    s = report["scenarios"]
    out: Report = {"commit": report["revision"]["commit"], "date": report["date"]}
    if "latency" in s:
        out["latency_sdk_over_aiohttp_wall"] = s["latency"]["sdk_over_aiohttp_wall"]["median"]
    if s.get("memory", {}).get("checkpoints"):
        out["stream_peak_rss_growth_mb"] = s["memory"]["checkpoints"][-1]["peak_rss_growth_mb"]
    if "ir" in s:
        out["ir_per_request"] = s["ir"]["ir_per_request"]
    return out


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
            f"| {label(f['client'])} | {f['workload']} | {_k(f['ir_per_request'])}"
            f" | {f['ir'][0]:,} | {f['ir'][1]:,} | {f['failed']} |"
        )
    lines.append("")
    lines += [f"{name}: {value:.2f}x" + "  " for name, value in ir["ratios"].items()]
    return [*lines, ""]


def markdown(report: Report) -> str:
    s = report["scenarios"]
    lines = header(report)
    if "ir" in s:
        lines += ir_table(s["ir"])
    cpu = s.get("cpu")
    if cpu:
        lines += [
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
        lines.append("")
    lat = s.get("latency")
    if lat:
        lines += [
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
        lines.append(
            f"\nsdk/aiohttp wall: {lat['sdk_over_aiohttp_wall']['median']:.2f}x"
            f" (rounds {lat['sdk_over_aiohttp_wall']['per_round']})"
        )
        lines.append("")
    churn = s.get("churn")
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
    mem = s.get("memory")
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
    flight, models = s.get("inflight"), s.get("models")
    if flight or models:
        lines.append("**Memory**:")
        if models:
            lines.append(
                f"a structured {models['model']} kept costs {models['model_bytes_each']:,.0f} B"
                f" (tracemalloc, {models['count']} kept), its JSON dict alone"
                f" {models['dict_bytes_each']:,.0f} B (body {models['body_bytes_each']:,.0f} B):"
                f" {models['over_dict_bytes_each']:,.0f} B over the dict."
            )
        if flight:
            g = flight["rss_growth_mb"]
            lines.append(
                f"{flight['in_flight']:,} typed GETs in flight at once: peak RSS growth"
                f" {g['sdk']:.1f} MB (SDK) vs {g['aiohttp']:.1f} MB (raw aiohttp), median of"
                f" {len(flight['runs'])} alternating rounds; per round"
                f" {flight['sdk_over_aiohttp']['per_round']}."
            )
        lines.append("")
    imp = s.get("import")
    if imp:
        here, plain = imp["this_venv"], imp["without_httpx_cli"]
        lines += [
            f'**Import**: `python -X importtime -c "import cloutility_async"`:'
            f" {here['cumulative_ms']:.0f} ms cumulative (median of {len(here['runs_ms'])};"
            f" click installed: {'yes' if imp['click_installed'] else 'no'}; every top-level"
            f" import of the process together, the interpreter's own included:"
            f" {here['all_top_level_ms']:.0f} ms); {plain['cumulative_ms']:.0f} ms without"
            " httpx's command-line dependencies (click, rich, pygments). Where the time"
            " goes (own time of the modules loaded, by package, without the CLI ones): "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in plain["own_ms_by_package"].items())
            + f"; the bare interpreter starts in {imp['bare_interpreter_ms']:.0f} ms.",
            "",
        ]
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
