"""The bulk-audit benchmark runs end to end (its --quick mode) and reports every figure.

A subprocess smoke test: it checks that the benchmark works and that its report is
complete, never how fast anything was (speed is measured in benchmarks/, not asserted).
It drives its own event loops in child processes, so it has no anyio backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bulk_audit_quick_reports_every_client_and_target(tmp_path: Path) -> None:
    """--quick writes JSON with the four clients, all scenarios and each target's figure."""
    output = tmp_path / "bulk_audit.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bulk_audit.py"),
            "--quick",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(output.read_text())
    assert set(report["scenarios"]) >= {"cpu", "latency", "churn", "memory", "import"}
    assert report["scenarios"]["churn"]["failed_audits"] == 0
    assert len(report["targets"]) >= 6
    assert all({"target", "goal", "measured", "met"} <= set(t) for t in report["targets"])
    text = output.read_text() + done.stdout
    assert "demo-password" not in text
    assert "Bearer " not in text
