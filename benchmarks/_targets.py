"""Issue 16's targets: each one's figure from a report, and whether it is met.

``met`` is None where nothing was measured (orjson not installed, say) or where there
is nothing to compare with yet (the run that is the before); the figure says which.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Report = dict[str, Any]
Row = dict[str, Any]


def row(name: str, goal: str, measured: str, met: bool | None) -> Row:
    return {"target": name, "goal": goal, "measured": measured, "met": met}


def kilo(ir: float) -> str:
    return f"{ir / 1000:,.0f}k"


def _instructions(ir: Report) -> list[Row]:
    per, ratios = ir["ir_per_request"], ir["ratios"]
    sdk_json = per.get("sdk-no-orjson/get", per["sdk/get"])
    r = ratios["get: sdk/aiohttp+json"]
    out = [row(
        "1. CPU per typed consumer GET, 64 in flight, vs raw aiohttp + json (instructions)",
        "<= 1.2x",
        f"{r:.2f}x ({kilo(sdk_json)} vs {kilo(per['aiohttp/get'])} Ir/request)",
        r <= 1.2,
    )]  # fmt: skip
    name = "1. the same vs raw aiohttp + orjson (instructions)"
    if "get: sdk/aiohttp+orjson" in ratios:
        r = ratios["get: sdk/aiohttp+orjson"]
        uses = "uses" if ir["sdk_loads_orjson"] else "does not use"
        out.append(row(
            name,
            "<= 1.2x",
            f"{r:.2f}x ({kilo(per['sdk/get'])} vs {kilo(per['aiohttp-orjson/get'])}"
            f" Ir/request; the SDK {uses} orjson)",
            r <= 1.2,
        ))  # fmt: skip
    else:
        out.append(row(name, "<= 1.2x", "orjson is not installed: not measured", None))
    r = ratios["audit: sdk/aiohttp+json"]
    out.append(row(
        "1. CPU per request, four-route bulk audit, vs raw aiohttp + json (instructions)",
        "<= 1.2x",
        f"{r:.2f}x ({kilo(per['sdk/audit'])} vs {kilo(per['aiohttp/audit'])} Ir/request)",
        r <= 1.2,
    ))  # fmt: skip
    return out


def _wall_clock(cpu: Report) -> list[Row]:
    ratio = cpu["ratios"]["sdk/aiohttp"]["cpu_per_request"]
    return [row(
        "1. CPU per request, four-route bulk audit, vs raw aiohttp (wall-clock CPU)",
        "<= 1.2x",
        f"{ratio['median']:.2f}x (median of per-round ratios {ratio['per_round']})",
        ratio["median"] <= 1.2,
    )]  # fmt: skip


def _trio(ir: Report) -> list[Row]:
    r = ir["ratios"]["audit: sdk trio/sdk asyncio"]
    per = ir["ir_per_request"]
    return [row(
        "2. trio: SDK CPU per request over the SDK's asyncio figure, bulk audit (instructions)",
        "<= 1.5x",
        f"{r:.2f}x ({kilo(per['sdk-trio/audit'])} vs {kilo(per['sdk/audit'])} Ir/request)",
        r <= 1.5,
    )]  # fmt: skip


def _import(imp: Report) -> list[Row]:
    ms, plain = imp["cumulative_ms"], imp["without_httpx_cli"]["cumulative_ms"]
    click = imp["click_installed"]
    return [row(
        '3. `python -X importtime -c "import cloutility_async"`, click installed',
        "<= 150 ms",
        f"{ms:.0f} ms ({plain:.0f} ms without httpx's CLI deps"
        + (f"; {ir['import_ir'] / 1e6:,.0f}M Ir" if (ir := imp.get("instructions")) else "")
        + ")"
        + ("" if click else "; click is NOT installed here"),
        ms <= 150 if click else None,
    )]  # fmt: skip


def _model(models: Report) -> list[Row]:
    over = models["over_dict_bytes_each"]
    return [row(
        f"4. a structured {models['model']} over its dict",
        "<= 1 KB",
        f"{over:,.0f} B ({models['model_bytes_each']:,.0f} B with its dict of"
        f" {models['dict_bytes_each']:,.0f} B)",
        over <= 1024,
    )]  # fmt: skip


def _in_flight(flight: Report) -> list[Row]:
    r, g = flight["sdk_over_aiohttp"]["median"], flight["rss_growth_mb"]
    return [row(
        f"4. RSS growth, {flight['in_flight']:,} typed GETs in flight, vs raw aiohttp",
        "<= 1.2x",
        f"{r:.2f}x ({g['sdk']:.1f} vs {g['aiohttp']:.1f} MB)",
        r <= 1.2,
    )]  # fmt: skip


def _latency(lat: Report, was: Report | None, where: str) -> list[Row]:
    r = lat["sdk_over_aiohttp_wall"]["median"]
    before = None if was is None else was.get("latency_sdk_over_aiohttp_wall")
    return [row(
        "5. latency-bound run: SDK wall over raw aiohttp's",
        "<= before x 1.1",
        f"{r:.2f}x ({lat['summary']['sdk']['wall_vs_ideal']:.2f}x the ideal"
        f" {lat['ideal_wall_s']:.2f} s; {where}"
        + ("" if before is None else f": {before:.2f}x") + ")",
        None if before is None else r <= before * 1.1,
    )]  # fmt: skip


def _churn(churn: Report, was: Report | None, where: str) -> list[Row]:
    p_in, p_out = churn["inside_windows"]["p99_ms"], churn["outside_windows"]["p99_ms"]
    return [
        row(
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
        ),
        row(
            "5. token churn: p99 latency inside refresh windows",
            "<= outside + 5 ms",
            f"{p_in:.1f} ms inside (n={churn['inside_windows']['count']}) vs"
            f" {p_out:.1f} ms outside",
            p_in <= p_out + 5,
        ),
    ]


def _stream(mem: Report, was: Report | None, where: str) -> list[Row]:
    if not mem["checkpoints"]:
        return []
    first, last = mem["checkpoints"][0], mem["checkpoints"][-1]
    growth = last["peak_rss_growth_mb"]
    flat = growth <= first["peak_rss_growth_mb"] * 1.5 + 5
    before = None if was is None else was.get("stream_peak_rss_growth_mb")
    return [row(
        f"5. streaming audit peak RSS growth ({last['consumers']:,} consumers)",
        "flat, <= 150 MB and <= before x 1.2 + 2 MB",
        f"{growth:.1f} MB ({first['consumers']:,}: {first['peak_rss_growth_mb']:.1f} MB;"
        f" {where}" + ("" if before is None else f": {before:.1f} MB") + ")",
        growth <= 150 and flat and (before is None or growth <= before * 1.2 + 2),
    )]  # fmt: skip


def _httpx(cpu: Report, was: Report | None, where: str) -> list[Row]:
    if "sdk/httpx" not in cpu["ratios"]:
        return []
    r = cpu["ratios"]["sdk/httpx"]["cpu_per_request"]["median"]
    return [row("kept: CPU per request vs raw httpx (wall-clock CPU)", "<= 0.3x", f"{r:.2f}x",
                r <= 0.3)]  # fmt: skip


#: Issue 16's targets 1-4, in the table's order: (scenario, its rows).
TARGETS: list[tuple[str, Callable[[Report], list[Row]]]] = [
    ("ir", _instructions),
    ("cpu", _wall_clock),
    ("ir", _trio),
    ("import", _import),
    ("models", _model),
    ("inflight", _in_flight),
]
#: Target 5, "no regression anywhere else", and an earlier target kept.
NO_REGRESSION: list[tuple[str, Callable[[Report, Report | None, str], list[Row]]]] = [
    ("latency", _latency),
    ("churn", _churn),
    ("memory", _stream),
    ("cpu", _httpx),
]


def targets(report: Report, before: Report | None) -> list[Row]:
    """Issue 16's targets, each with its figure from this run and met / not met;
    the no-regression ones against ``before`` (None, or this very run: no comparison)."""
    s = report["scenarios"]
    if before is not None and before.get("commit") == report["revision"]["commit"]:
        before = None
    where = "this run is the before" if before is None else f"before {before['commit'][:10]}"
    out: list[Row] = []
    for name, rows in TARGETS:
        if s.get(name):
            out += rows(s[name])
    for name, compared in NO_REGRESSION:
        if s.get(name):
            out += compared(s[name], before, where)
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
