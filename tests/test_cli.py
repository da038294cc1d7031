"""The ``cloutility`` command, run through ``main(argv)`` against the simulator on a loopback port.

Every test runs once per anyio backend (``--backend``), so ``nox -s tests -k trio`` covers it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from cloutility_async import Job, SimpleBusinessUnit, __version__
from cloutility_async._converter import structure
from cloutility_async.cli import _output as output
from cloutility_async.cli import main
from cloutility_async.cli._audit import FIELDS, audit_row
from cloutility_async.testing import FULL_VERSION, Simulator

REQUIRED_KEYS = {
    "bunit_id",
    "bunit_name",
    "consumer_id",
    "consumer_name",
    "node_name",
    "node_activated",
    "last_backup",
    "storage_mb",
    "jobs_total",
    "jobs_failed",
    "warnings",
    "error",
}
SUMMARY = re.compile(
    r"Audited (\d+) consumers? in (\d+) business units? in [\d.]+ s: (\d+) failed jobs?, "
    r"(\d+) nodes? without backup in the last 24 h, (\d+) errors?\."
)
ENV = ("CLIENT_ID", "ORIGIN", "USERNAME", "PASSWORD", "BASE_URL")


class Result(NamedTuple):
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


Run = Callable[..., Result]


@pytest.fixture
def backend(anyio_backend: str) -> str:
    """The anyio backend the CLI runs on (both, or the one nox selects)."""
    return anyio_backend


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    """One simulator on a loopback port, shared by the tests that do not change it."""
    sim = Simulator()
    with sim.serve_in_thread(host="127.0.0.1", port=0) as base_url:
        yield sim, base_url


def point_env_at(monkeypatch: pytest.MonkeyPatch, sim: Simulator, base_url: str) -> None:
    values = (sim.client_id, sim.origin, sim.username, sim.password, base_url)
    for name, value in zip(ENV, values, strict=True):
        monkeypatch.setenv(f"CLOUTILITY_{name}", value)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, served: tuple[Simulator, str]) -> Simulator:
    point_env_at(monkeypatch, *served)
    return served[0]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(f"CLOUTILITY_{name}", raising=False)
    for name in ("COLUMNS", "NO_COLOR", "FORCE_COLOR", "CLOUTILITY_LOG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], backend: str) -> Run:
    """``main(argv + ["--backend", backend])``; checks that no secret and no traceback leaks."""

    def runner(*argv: str) -> Result:
        code = main([*argv, "--backend", backend])
        captured = capsys.readouterr()
        result = Result(code, captured.out, captured.err)
        assert "Traceback" not in result.err
        for secret in ("demo-password", "wrong-password"):
            assert secret not in result.out
            assert secret not in result.err
        return result

    return runner


def tree_consumers(sim: Simulator, root: int | None = None) -> dict[int, Any]:
    world = sim.world
    found = world.consumers_in_tree(world.root_id if root is None else root)
    return {c.id: world.details(c) for c in found}


def expected_jobs(consumer: Any, start: dt.datetime) -> tuple[int, int, str | None]:
    """(jobs_total, jobs_failed, last_backup) of the world's jobs in the window, by the
    audit's own rule (``audit_row``, unit-tested in tests/test_audit_row.py)."""
    jobs = [structure(job.raw, Job) for job in consumer.jobs if job.completed >= start]
    row = audit_row(SimpleBusinessUnit(id=1), None, jobs=jobs)
    return row.jobs_total, row.jobs_failed, row.as_dict()["last_backup"]


def summary_numbers(err: str) -> tuple[int, ...]:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # no progress bar when stderr is not a terminal
    match = SUMMARY.fullmatch(lines[0])
    assert match, lines[0]
    return tuple(int(group) for group in match.groups())


# -- audit ---------------------------------------------------------------------------------


def test_audit_json_lines_match_the_simulator(run: Run, env: Simulator) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    result = run("audit", "--format", "json")
    after = dt.datetime.now(dt.timezone.utc)
    assert result.code == 0
    rows = result.json_lines()
    truth = tree_consumers(env)
    assert len(rows) == len(truth)
    assert sorted(row["consumer_id"] for row in rows) == sorted(truth)
    world = env.world
    for row in rows:
        assert set(row) >= REQUIRED_KEYS
        c = truth[row["consumer_id"]]
        assert row["consumer_name"] == c.name
        assert row["bunit_id"] == c.bu_id
        assert row["bunit_name"] == world.bunits[c.bu_id].name
        assert row["error"] is None
        assert row["node_activated"] is c.activated
        assert row["has_node"] is (c.node is not None)
        if c.activated:
            assert row["node_name"] == c.node["tsmName"]
            latest = c.reports[-1]
            assert row["storage_mb"] == pytest.approx(float(latest.raw["megaBytes"]))
            assert row["warnings"] == len(latest.warnings)
        else:
            assert row["node_name"] is None
            assert row["storage_mb"] is None
            assert row["warnings"] is None
        # The CLI's "now" lies between before and after: either window may be the one.
        window = dt.timedelta(hours=24)
        got = (row["jobs_total"], row["jobs_failed"], row["last_backup"])
        assert got in {expected_jobs(c, before - window), expected_jobs(c, after - window)}
    consumers, units, failed, without, errors = summary_numbers(result.err)
    assert consumers == len(rows)
    assert units == len(list(world.descendants(world.root_id)))
    assert failed == sum(row["jobs_failed"] for row in rows)
    assert without == sum(1 for r in rows if r["node_activated"] and r["last_backup"] is None)
    assert errors == 0
    assert any(row["jobs_failed"] for row in rows)  # the default world has some failures


def test_audit_csv_has_a_header_and_a_row_per_consumer(run: Run, env: Simulator) -> None:
    result = run("audit", "--format", "csv")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split(",") == list(FIELDS)
    records = list(csv.DictReader(io.StringIO(result.out)))
    truth = tree_consumers(env)
    assert sorted(int(r["consumer_id"]) for r in records) == sorted(truth)
    for record in records:
        c = truth[int(record["consumer_id"])]
        assert record["consumer_name"] == c.name
        assert record["node_activated"] == ("true" if c.activated else "false")
        assert record["error"] == ""
        if c.activated:
            assert float(record["storage_mb"]) > 0
        else:
            assert record["storage_mb"] == ""
    summary_numbers(result.err)


def test_audit_table_lists_every_consumer_sorted(run: Run, env: Simulator) -> None:
    result = run("audit")
    assert result.code == 0
    header = result.out.splitlines()[0]
    for title in ("Business unit", "Consumer", "Node", "Active", "Storage (MB)", "Failed"):
        assert title in header
    assert "Error" not in header  # only shown when some consumer failed
    truth = tree_consumers(env)
    for c in truth.values():
        assert c.name in result.out
    # Sorted by business unit name: the first data row belongs to the first unit.
    names = sorted(env.world.bunits[c.bu_id].name.casefold() for c in truth.values())
    assert result.out.splitlines()[2].casefold().startswith(names[0] + "  ")
    summary_numbers(result.err)


def test_audit_bunit_restricts_to_the_subtree(run: Run, env: Simulator) -> None:
    result = run("audit", "--format", "json", "--bunit", "76")
    assert result.code == 0
    rows = result.json_lines()
    truth = tree_consumers(env, 76)
    assert 0 < len(truth) < len(tree_consumers(env))
    assert sorted(row["consumer_id"] for row in rows) == sorted(truth)
    assert {row["bunit_id"] for row in rows} <= set(env.world.descendants(76))


def test_audit_of_a_unit_outside_the_tree_is_a_usage_error(run: Run, env: Simulator) -> None:
    result = run("audit", "--bunit", "999999")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("cloutility: error: business unit 999999")
    assert len(result.err.splitlines()) == 1


def test_audit_writes_the_output_file_atomically(run: Run, env: Simulator, tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    target.write_text("old content\n")
    result = run("audit", "--format", "json", "--output", str(target))
    assert result.code == 0
    assert result.out == ""  # rows went to the file, the summary to stderr
    summary_numbers(result.err)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == len(tree_consumers(env))
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"]  # no temporary file left


def test_an_interrupted_audit_leaves_no_partial_file(
    run: Run, env: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "audit.csv"
    target.write_text("previous audit\n")
    real_write = output.CsvWriter.write
    written: list[object] = []

    def interrupt_on_third_row(self: output.CsvWriter, row: Any) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(row)
        real_write(self, row)

    monkeypatch.setattr(output.CsvWriter, "write", interrupt_on_third_row)
    result = run("audit", "--format", "csv", "-o", str(target))
    assert result.code == 130
    assert result.err == "cloutility: error: interrupted\n"
    assert len(written) == 2
    assert target.read_text() == "previous audit\n"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["audit.csv"]


def test_partial_failure_reports_each_consumer_error_and_exits_1(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = Simulator()
    truth = tree_consumers(sim)
    activated = [c for c in truth.values() if c.activated and c.bu_id != 94]
    node_broken, jobs_refused = activated[0], activated[1]
    # 500 and 403 are not retried: the failures are immediate.
    sim.faults.inject(f"GET /bunits/*/consumers/{node_broken.id}/node", 500, times=None)
    sim.faults.inject(f"GET /bunits/*/consumers/{jobs_refused.id}/jobs", 403, times=None)
    sim.faults.inject("GET /bunits/94/consumers", 500, times=None)  # a whole unit's list
    with sim.serve_in_thread() as base_url:
        point_env_at(monkeypatch, sim, base_url)
        result = run("audit", "--format", "json")
    assert result.code == 1
    rows = {row["consumer_id"]: row for row in result.json_lines()}
    hidden = {c.id for c in truth.values() if c.bu_id == 94}
    assert hidden
    assert set(rows) == (set(truth) - hidden) | {None}
    unit_row = rows[None]
    assert unit_row["bunit_id"] == 94
    assert unit_row["error"] == "consumers: HTTP 500: Injected 500 response."
    broken = rows[node_broken.id]
    assert broken["error"] == "node: HTTP 500: Injected 500 response."
    assert broken["node_activated"] is False  # unknown, not claimed
    assert broken["storage_mb"] is not None  # what did work is still reported
    refused = rows[jobs_refused.id]
    assert refused["error"] == "jobs: HTTP 403: Injected 403 response."
    assert refused["node_name"] == jobs_refused.node["tsmName"]
    others = [r for cid, r in rows.items() if cid not in (None, node_broken.id, jobs_refused.id)]
    assert all(r["error"] is None for r in others)
    consumers, _units, _failed, _without, errors = summary_numbers(result.err)
    assert consumers == len(rows) - 1
    assert errors == 3


def test_the_table_shows_errors(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = Simulator(consumers=5)
    victim = next(iter(tree_consumers(sim).values()))
    sim.faults.inject(f"GET /bunits/*/consumers/{victim.id}/reports/latest", 403, times=None)
    with sim.serve_in_thread() as base_url:
        point_env_at(monkeypatch, sim, base_url)
        result = run("audit")
    assert result.code == 1
    assert "Error" in result.out.splitlines()[0]
    victim_line = next(line for line in result.out.splitlines() if victim.name in line)
    assert "report: HTTP 403" in victim_line


# -- configuration and errors ------------------------------------------------------------


@pytest.mark.parametrize("missing", ["CLIENT_ID", "ORIGIN", "USERNAME", "PASSWORD"])
def test_a_missing_variable_is_named_and_exits_2(
    run: Run, env: Simulator, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(f"CLOUTILITY_{missing}")

    def no_prompt(prompt: str) -> str:
        raise AssertionError("prompted although stdin is not a terminal")

    monkeypatch.setattr("getpass.getpass", no_prompt)
    result = run("audit")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith(f"cloutility: error: CLOUTILITY_{missing} is not set")
    assert len(result.err.splitlines()) == 1


def test_a_missing_password_is_asked_for_on_a_terminal(
    run: Run, env: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUTILITY_PASSWORD")
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return env.password

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", Terminal())
    result = run("audit", "--format", "json", "--bunit", "94")
    assert result.code == 0
    assert prompts == [f"Cloutility password for {env.username}: "]
    assert len(result.json_lines()) == len(tree_consumers(env, 94))


def test_bad_credentials_exit_2_without_a_traceback(
    run: Run, env: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUTILITY_PASSWORD", "wrong-password")
    result = run("audit", "--format", "json")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("cloutility: error: authentication failed")
    assert len(result.err.splitlines()) == 1


def test_a_config_file_works_and_the_environment_wins(
    run: Run, served: tuple[Simulator, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, base_url = served
    config = tmp_path / "cloutility.toml"
    config.write_text(
        f'client_id = "{sim.client_id}"\norigin = "{sim.origin}"\nusername = "{sim.username}"\n'
        f'base_url = "{base_url}"\npassword = "wrong-password"\n'
    )
    config.chmod(0o600)
    monkeypatch.setenv("CLOUTILITY_PASSWORD", sim.password)
    result = run("audit", "--config", str(config), "--format", "json", "--bunit", "94")
    assert result.code == 0, result.err
    assert len(result.json_lines()) == len(tree_consumers(sim, 94))
    monkeypatch.delenv("CLOUTILITY_PASSWORD")
    refused = run("audit", "--config", str(config))  # the file's (wrong) password
    assert refused.code == 2
    assert "authentication failed" in refused.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('client_id = "x"\npasword = "typo"\n', "unknown key 'pasword'"),
        ("client_id = \n", "is not valid TOML"),
        ("client_id = 7\n", "client_id must be a string"),
    ],
)
def test_a_bad_config_file_exits_2(run: Run, tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    result = run("bunits", "--config", str(config))
    assert result.code == 2
    assert message in result.err
    assert len(result.err.splitlines()) == 1


def test_usage_errors_exit_2(run: Run, tmp_path: Path) -> None:
    assert run("audit", "--demo", "--since", "0").code == 2
    assert run("audit", "--demo", "--format", "xml").code == 2
    missing_dir = tmp_path / "nope" / "audit.csv"
    result = run("audit", "--demo", "--output", str(missing_dir))
    assert result.code == 2
    assert "is not a directory" in result.err
    assert main([]) == 2


# -- the other commands ---------------------------------------------------------------------


def test_version(run: Run, env: Simulator) -> None:
    local = run("version")
    assert (local.code, local.out) == (0, f"cloutility-async {__version__}\n")
    portal = run("version", "--portal")
    assert portal.code == 0
    assert portal.out == f"cloutility-async {__version__}\nportal {FULL_VERSION}\n"


def test_bunits_prints_the_tree(run: Run, env: Simulator) -> None:
    world = env.world
    result = run("bunits")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == [*world.bunits[world.root_id].name.split(), str(world.root_id)]
    for bid in world.descendants(world.root_id):
        assert f"{world.bunits[bid].name}  {bid}" in result.out
    as_json = json.loads(run("bunits", "--format", "json", "--bunit", "76").out)

    def ids(node: dict[str, Any]) -> list[int]:
        return [node["id"], *(i for child in node["business_units"] for i in ids(child))]

    assert sorted(ids(as_json)) == sorted(world.descendants(76))


def test_consumers_lists_a_unit(run: Run, env: Simulator) -> None:
    truth = tree_consumers(env, 94)
    table = run("consumers", "--bunit", "94")
    assert table.code == 0
    for c in truth.values():
        assert c.name in table.out
    lines = run("consumers", "--bunit", "94", "--format", "json").out.splitlines()
    rows = [json.loads(line) for line in lines]
    assert sorted(row["consumer_id"] for row in rows) == sorted(truth)
    assert {row["bunit_id"] for row in rows} == {94}
    assert all(row["state"] in ("Active", "Inactive", "New") for row in rows)


def test_demo_needs_no_configuration(run: Run) -> None:
    result = run("audit", "--demo", "--format", "json")
    assert result.code == 0
    rows = result.json_lines()
    assert sorted(row["consumer_id"] for row in rows) == sorted(tree_consumers(Simulator()))
    assert all(set(row) >= REQUIRED_KEYS and row["error"] is None for row in rows)
    tree = run("bunits", "--demo")
    assert tree.code == 0
    assert "Company AB" in tree.out


def test_demo_with_drift_audits_every_consumer_and_exits_0(run: Run) -> None:
    """``audit --demo --drift``: the deviations are read tolerantly, every consumer has a row
    without an error, and the exit status is 0."""
    result = run("audit", "--demo", "--drift", "--format", "json")
    assert result.code == 0, result.err
    rows = result.json_lines()
    assert sorted(row["consumer_id"] for row in rows) == sorted(tree_consumers(Simulator()))
    assert all(set(row) >= REQUIRED_KEYS and row["error"] is None for row in rows)
    consumers, _units, _failed, _without, errors = summary_numbers(result.err)
    assert (consumers, errors) == (len(rows), 0)


def test_under_drift_a_unit_whose_list_keeps_failing_is_one_error_row_the_rest_complete(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drifting portal whose unit 94 answers its consumer list with 500 every time: one
    error row for that unit, every other consumer audited without error, exit 1."""
    sim = Simulator(drift=True)
    truth = tree_consumers(sim)
    hidden = {c.id for c in truth.values() if c.bu_id == 94}
    assert hidden
    sim.faults.inject("GET /bunits/94/consumers", 500, times=None)
    with sim.serve_in_thread() as base_url:
        point_env_at(monkeypatch, sim, base_url)
        result = run("audit", "--format", "json")
    assert sum(sim.drift.counts.values()) > 0  # the portal did drift
    assert result.code == 1
    rows = {row["consumer_id"]: row for row in result.json_lines()}
    assert set(rows) == (set(truth) - hidden) | {None}
    assert rows[None]["bunit_id"] == 94
    assert rows[None]["error"] == "consumers: HTTP 500: Injected 500 response."
    assert all(row["error"] is None for cid, row in rows.items() if cid is not None)
    consumers, _units, _failed, _without, errors = summary_numbers(result.err)
    assert (consumers, errors) == (len(rows) - 1, 1)


def test_progress_on_a_terminal_keeps_stdout_clean(
    run: Run, env: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    result = run("audit", "--format", "json", "--bunit", "76")
    assert result.code == 0
    assert len(result.json_lines()) == len(tree_consumers(env, 76))  # only JSON on stdout
    assert SUMMARY.search(result.err)


def test_simulate_help(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    assert main(["simulate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--port" in text
    assert "--consumers" in text


def test_ctrl_c_stops_cleanly_and_leaves_no_partial_file(backend: str, tmp_path: Path) -> None:
    """A real SIGINT to a real process, once rows are being written (on trio it lands in
    whichever task runs, often a worker of the audit)."""
    sim = Simulator(consumers=200)
    sim.faults.latency_ms = 20  # long enough to be interrupted mid-way
    target = tmp_path / "audit.csv"
    with sim.serve_in_thread() as base_url:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        values = (sim.client_id, sim.origin, sim.username, sim.password, base_url)
        env.update({f"CLOUTILITY_{k}": v for k, v in zip(ENV, values, strict=True)})
        argv = ["audit", "--format", "csv", "-o", str(target), "--backend", backend]
        process = subprocess.Popen(
            [sys.executable, "-m", "cloutility_async.cli", *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # A shell's background job inherits SIGINT ignored; Ctrl-C needs it default.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 15
            while not any(p.suffix == ".tmp" for p in tmp_path.iterdir()):
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the audit never started writing"
                time.sleep(0.01)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, err
    assert err == "cloutility: error: interrupted\n"
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


@pytest.mark.parametrize("other_thread", [False, True], ids=["alone", "with-another-thread"])
def test_ctrl_c_just_as_the_temporary_file_is_created_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_thread: bool
) -> None:
    """The worst moment for a Ctrl-C, the file made but its name not yet known, is held
    back until the file is guarded, then removes it; also when another thread (a served
    simulator's, say) is there to take the signal from the kernel."""
    real_mkstemp = output.tempfile.mkstemp

    def mkstemp_then_ctrl_c(**kwargs: Any) -> tuple[int, str]:
        made = real_mkstemp(**kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # room for the other thread to take it; Python then acts on it here
        return made

    monkeypatch.setattr(output.tempfile, "mkstemp", mkstemp_then_ctrl_c)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    if other_thread:
        helper.start()
    # Python's own Ctrl-C handler, even where SIGINT came in ignored (a background job).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), output.atomic_output(tmp_path / "audit.csv") as out:
            out.write("never kept\n")
    finally:
        signal.signal(signal.SIGINT, previous)
        stop.set()
        if other_thread:
            helper.join()
    assert list(tmp_path.iterdir()) == []


def test_debug_logs_requests_and_grants_to_stderr_without_secrets(run: Run, env: Simulator) -> None:
    """``--debug``: the SDK's DEBUG records on stderr, no token in them, and the
    handler is gone once the command returns."""
    result = run("version", "--portal", "--debug")
    assert result.code == 0
    assert result.out == f"cloutility-async {__version__}\nportal {FULL_VERSION}\n"
    assert "cloutility.token_granted: grant_type=password" in result.err
    assert re.search(
        r"DEBUG +cloutility_async\S*: cloutility\.request: GET \S+fullVersion", result.err
    )
    assert "Bearer ***" in result.err
    secrets = [*env.auth.tokens, *env.auth.sessions, env.password]
    assert secrets
    assert not [secret for secret in secrets if secret in result.err]
    assert run("version", "--portal").err == ""  # nothing left behind for the next command


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """Every option with a default says it in ``--help``."""
    assert main(["audit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "the job window, in hours (default: 24)" in text
    assert "output format (json is JSON Lines, one object a line) (default: table)" in text
    assert main(["bunits", "--help"]) == 0
    assert "output format (default: tree)" in " ".join(capsys.readouterr().out.split())


def test_version_and_dash_v_say_the_same(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    """``cloutility -V`` and ``cloutility version`` print one wording."""
    assert main(["-V"]) == 0
    assert capsys.readouterr().out == f"cloutility-async {__version__}\n"
    assert run("version").out == f"cloutility-async {__version__}\n"


@pytest.mark.anyio
async def test_the_audit_knows_its_total_before_auditing_the_first_consumer() -> None:
    """Progress lists every consumer first, then audits out of a total that never changes."""
    import httpx

    from cloutility_async import Cloutility
    from cloutility_async.cli._audit import Audit

    sim = Simulator(consumers=30)
    seen: list[tuple[int | None, int, int | None, int]] = []
    async with Cloutility(
        client_id=sim.client_id,
        origin=sim.origin,
        username=sim.username,
        password=sim.password,
        base_url="http://sim.test/v1/",
        transport=httpx.ASGITransport(app=sim.app),
    ) as api:
        audit = Audit(
            api, on_progress=lambda a: seen.append((a.units, a.discovered, a.total, a.done))
        )
        rows = [row async for row in audit.rows()]
    units = len(list(sim.world.descendants(sim.world.root_id)))
    assert len(rows) == len(tree_consumers(sim)) > 0
    first_done = next(i for i, (_, _, _, done) in enumerate(seen) if done > 0)
    listing, auditing = seen[:first_done], seen[first_done:]
    assert listing[-1] == (units, len(rows), len(rows), 0)  # everything listed, total known
    assert [listed for _, listed, total, _ in listing if total is None] == list(
        range(len(rows) + 1)
    )
    assert {total for _, _, total, _ in auditing} == {len(rows)}
    assert [done for *_, done in auditing] == list(range(1, len(rows) + 1))


# -- table layout (the pseudo-terminal tests are in test_cli_terminal.py) ---------------------


def rendered(fitted: output.FittedTable) -> list[str]:
    console = output.plain_console(io.StringIO(), width=fitted.width)
    with console.capture() as capture:
        console.print(fitted.table)
    return capture.get().splitlines()


def test_a_fitted_table_never_splits_a_word_and_hides_columns_in_drop_order() -> None:
    """At 40 columns a long name wraps between its words, a number stays whole, and the
    columns go in ``drop`` order until the rest fits."""
    columns = [
        output.Column("Name"),
        output.Column("Size (MB)", "right", wrap=False),
        output.Column("Note", drop=1),
        output.Column("Extra", drop=2),
    ]
    rows = [["Umeå Customer Service Department", "1,234,567.8", "ok", "x" * 12]]
    fitted = output.fit_table(columns, rows, 40)
    assert fitted.hidden == ("Extra",)
    lines = rendered(fitted)
    assert all(len(line) <= 40 for line in lines)
    body = " ".join(lines[2:])
    assert "1,234,567.8" in body
    assert " ".join(body.replace("1,234,567.8", "").replace("ok", "").split()) == rows[0][0]
    narrow = output.fit_table(columns, rows, 26)
    assert narrow.hidden == ("Note", "Extra")


def test_without_a_width_the_table_is_as_wide_as_its_longest_row() -> None:
    """``width=None`` (a pipe): nothing hidden, every row on one line."""
    columns = [output.Column("Name"), output.Column("Note", drop=1)]
    rows = [["a fairly long business unit name", "a note with words"], ["b", "c"]]
    fitted = output.fit_table(columns, rows, None)
    assert fitted.hidden == ()
    assert len(rendered(fitted)) == 2 + len(rows)
