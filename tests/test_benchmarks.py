"""The benchmarks run end to end and report every figure; callgrind counts the loop only.

Subprocess smoke tests: they check that the benchmarks work, that their reports are
complete and that the instruction-count method counts what it claims, never how fast
anything was (speed is measured in benchmarks/, not asserted). They drive their own
event loops in child processes, so they have no anyio backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _ir  # noqa: E402  (benchmarks/ is not a package)
import _targets  # noqa: E402


@pytest.mark.slow
def test_bulk_audit_quick_reports_every_client_and_target(tmp_path: Path) -> None:
    """--quick writes JSON and markdown with every scenario, each target and the commit."""
    output = tmp_path / "bulk_audit.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bulk_audit.py"), "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(output.read_text())
    scenarios = report["scenarios"]
    assert set(scenarios) >= {"cpu", "latency", "churn", "memory", "inflight", "models", "import"}
    assert set(scenarios["cpu"]["summary"]) >= {"sdk", "aiohttp", "httpx", "requests"}
    assert scenarios["churn"]["failed_audits"] == 0
    assert scenarios["inflight"]["failed"] == {"sdk": 0, "aiohttp": 0}
    assert scenarios["models"]["model"] == "Consumer"
    assert scenarios["models"]["dict_bytes_each"] > 0
    assert len(report["revision"]["commit"]) == 40
    names = " ".join(t["target"] for t in report["targets"])
    for number in ("1.", "3.", "4.", "5."):
        assert number in names
    assert all({"target", "goal", "measured", "met"} <= set(t) for t in report["targets"])
    markdown = output.with_suffix(".md").read_text()
    assert "| target | goal | measured | met |" in markdown
    text = output.read_text() + markdown + done.stdout
    assert "demo-password" not in text
    assert "Bearer " not in text


BACKENDS = ("asyncio", "trio")
LOOP = """
import sys
sys.path.insert(0, {benchmarks!r})
from _workers._shared import run_collected
import decimal, email.parser, json  # imported before the loop: never counted

backend, n = sys.argv[1], int(sys.argv[2])

def work(i):
    return json.loads(json.dumps({{"i": i, "s": str(decimal.Decimal(i) / 7)}}))

if backend == "trio":
    import trio

    async def main():
        for i in range(n):
            work(i)
            await trio.sleep(0)

    run_collected(lambda: trio.run(main))
else:
    import asyncio

    async def main():
        for i in range(n):
            work(i)
            await asyncio.sleep(0)

    run_collected(lambda: asyncio.run(main()))
"""


def _profile(tmp_path: Path, backend: str, steps: int) -> dict[str, int]:
    out = tmp_path / f"{backend}.out"
    script = LOOP.format(benchmarks=str(BENCHMARKS))
    command = [*_ir.callgrind_prefix(out), sys.executable, "-c", script, backend, str(steps)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    assert _ir.read_ir(out) > 0
    return _ir.call_counts(out)


@pytest.mark.slow
def test_callgrind_counts_every_step_of_the_loop_and_nothing_before_it(tmp_path: Path) -> None:
    """Under --toggle-collect=context_run, run_collected counts each step's work and the
    scheduler's polling on asyncio and on trio, and not start-up, imports or exit."""
    if _ir.valgrind() is None:
        pytest.fail("valgrind is not installed (apt-get install valgrind; .ci/run does)")
    steps = 300
    with ThreadPoolExecutor(2) as pool:
        profiles = dict(
            zip(BACKENDS, pool.map(lambda b: _profile(tmp_path, b, steps), BACKENDS), strict=True)
        )
    for backend, calls in profiles.items():
        assert calls.get("scanner_call") == steps, backend  # json.loads in every step
        assert calls.get("select_epoll_poll", 0) >= steps, backend  # the loop's own polling
        for before_or_after in ("Py_InitializeFromConfig", "PyInit__decimal", "Py_FinalizeEx"):
            assert before_or_after not in calls, (backend, before_or_after)


def test_instruction_targets_are_read_from_the_two_sizes() -> None:
    """Ir/request is the slope between the two sizes; the targets table compares its ratios."""
    plan = _ir.Plan("sdk", "get", (200, 1200))
    run = {"failed_audits": 0, "profile": None}
    sdk = plan.summary([{**run, "requests": 1200, "ir": 3_500_000_000},
                        {**run, "requests": 200, "ir": 1_000_000_000}])  # fmt: skip
    assert sdk["ir_per_request"] == 2_500_000
    per = {"sdk/get": 2_500_000.0, "aiohttp/get": 1_000_000.0, "sdk/audit": 1_100_000.0,
           "aiohttp/audit": 1_000_000.0, "sdk-trio/audit": 1_600_000.0}  # fmt: skip
    ratios = {
        "get: sdk/aiohttp+json": 2.5,
        "audit: sdk/aiohttp+json": 1.1,
        "audit: sdk trio/sdk asyncio": 1600 / 1100,
    }
    report = {
        "revision": {"commit": "0" * 40},
        "scenarios": {
            "ir": {"ir_per_request": per, "ratios": ratios, "sdk_loads_orjson": False},
        },
    }
    rows = {t["target"].split(" (")[0]: t for t in _targets.targets(report, None)}
    assert [t["met"] for t in rows.values()] == [False, None, True, True]
    assert rows["2. trio: SDK CPU per request over the SDK's asyncio figure, bulk audit"][
        "measured"
    ].startswith("1.45x (1,600k vs 1,100k")
