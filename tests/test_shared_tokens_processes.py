"""Worker processes sharing one token: Redis, a file, none, and Redis killed mid-run.

``benchmarks/token_stores.py`` runs the four scenarios at once (4 workers each, 30 s on
5-second tokens, every scenario on its own simulator server and, for Redis, its own
redis-server on loopback); this test runs it and checks the grants the simulators
counted. It drives its own processes and event loops, so it has no anyio backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 4


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the four scenarios, shared by the tests below."""
    output = tmp_path_factory.mktemp("token-stores") / "token_stores.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "token_stores.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)  # the grant figures (pytest -s shows them)
    text = output.read_text() + done.stdout + output.with_suffix(".md").read_text()
    assert "demo-password" not in text
    assert "Bearer" not in text
    assert "access_token" not in text
    return dict(json.loads(output.read_text()))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["redis", "file"])
def test_workers_sharing_a_store_make_one_login_and_one_refresh_per_interval(
    report: dict[str, Any], scenario: str
) -> None:
    """4 processes, 30 s, 5 s tokens: 1 password grant and refreshes within the shared bound."""
    figures = report["scenarios"][scenario]
    assert figures["failed_requests"] == 0
    assert figures["requests"] > 0
    assert figures["password_grants"] == 1
    assert 1 <= figures["refresh_grants"] <= figures["refresh_bound"]
    assert sum(w["tokens_from_store"] for w in figures["workers"]) >= WORKERS - 1
    if scenario == "file":  # the token file is shared across backends too
        assert {w["backend"] for w in figures["workers"]} == {"asyncio", "trio"}


@pytest.mark.slow
def test_workers_without_a_store_each_log_in_and_refresh_on_their_own(
    report: dict[str, Any],
) -> None:
    """The same run without a store: every worker makes its own login and refresh chain."""
    figures = report["scenarios"]["none"]
    assert figures["failed_requests"] == 0
    assert figures["password_grants"] == WORKERS
    assert [w["password_grants"] for w in figures["workers"]] == [1] * WORKERS
    assert all(w["refresh_grants"] >= 1 for w in figures["workers"])
    assert figures["refresh_grants"] > figures["refresh_bound"]
    shared = report["scenarios"]["redis"]["refresh_grants"]
    assert figures["refresh_grants"] > shared


@pytest.mark.slow
def test_killing_redis_mid_run_fails_no_request(report: dict[str, Any]) -> None:
    """Redis dies 10 s after every worker logged in: 0 failed requests, warnings, own tokens."""
    figures = report["scenarios"]["redis-killed"]
    assert figures["redis_killed_after_first_login_s"] is not None
    assert figures["failed_requests"] == 0
    assert figures["password_grants"] == 1  # shared until the outage
    assert figures["store_unavailable_warnings"] >= 1
    assert figures["refresh_grants"] > figures["refresh_bound"]  # each its own after it
