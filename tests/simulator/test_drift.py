"""Drift mode: seeded, reproducible deviations from the documented shapes, at the JSON level."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from cloutility_async import Cloutility, DecodeError
from cloutility_async.cli import main
from cloutility_async.testing import DRIFT_KINDS, Drift, Simulator
from cloutility_async.testing._formats import parse_iso
from cloutility_async.testing._server import add_serve_arguments, simulator_from_args

from ._helpers import UTC, open_client

pytestmark = pytest.mark.anyio

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DOTNET_DEFAULT = "0001-01-01T00:00:00"
FIRST_JOB_OBJECTS = ("type", "status", "dataSourceType", "dataSourceState", "serverType")


def consumer_paths(sim: Simulator) -> list[str]:
    """Every GET a bulk audit makes, for every consumer of the world, plus the units."""
    paths = [f"bunits/{b}" for b in sim.world.bunits]
    paths += [f"bunits/{b}/consumers" for b in sim.world.bunits]
    for c in sim.world.consumers.values():
        base = f"bunits/{c.bu_id}/consumers/{c.id}"
        paths += [base, f"{base}/node", f"{base}/jobs/first", f"{base}/reports/latest"]
        paths += [f"{base}/jobs", f"{base}/auditlogs"]
    return paths


async def answers(sim: Simulator, paths: list[str]) -> dict[str, Any]:
    """The JSON answer of each successful GET, by path."""
    out: dict[str, Any] = {}
    async with open_client(sim) as client:
        for path in paths:
            response = await client.get(path)
            if response.status_code == 200:
                out[path] = response.json()
    return out


def is_utc_date(value: Any) -> bool:
    return isinstance(value, str) and value.endswith("Z") and value[4:5] == "-"


def classify(plain: Any, drifted: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """(kind, where) for every difference between an answer and its drifted copy;
    ``unexplained`` for a difference no drift kind accounts for."""
    if isinstance(plain, dict) and isinstance(drifted, dict):
        for key, value in plain.items():
            where = f"{path}.{key}"
            if key not in drifted:
                yield "missing_field", where
            else:
                yield from classify(value, drifted[key], where)
        for key in drifted.keys() - plain.keys():
            yield "unexplained", f"{path}.{key}"
    elif isinstance(plain, list) and isinstance(drifted, list) and len(plain) == len(drifted):
        for k, (a, b) in enumerate(zip(plain, drifted, strict=True)):
            yield from classify(a, b, f"{path}[{k}]")
    elif plain == drifted and type(plain) is type(drifted):
        return
    elif isinstance(plain, dict) and drifted == plain.get("name"):
        yield "bare_name", path
    elif isinstance(plain, (int, float)) and not isinstance(plain, bool) and drifted == str(plain):
        yield "numeric_string", path
    elif isinstance(plain, list) and isinstance(drifted, dict) and drifted.get("items") == plain:
        yield ("collection_object" if drifted["total"] == len(plain) else "unexplained"), path
    elif is_utc_date(plain) and drifted == DOTNET_DEFAULT:
        yield "dotnet_default_date", path
    elif is_utc_date(plain) and isinstance(drifted, str) and is_seven_digit(drifted):
        same = parse_iso(drifted) == parse_iso(plain)
        yield ("seven_digit_date" if same else "unexplained"), path
    else:
        yield "unexplained", path


def is_seven_digit(text: str) -> bool:
    """``2024-05-20T19:06:03.0810281+02:00``: seven fractional digits and an offset."""
    fraction = text.partition(".")[2]
    return len(fraction) == 13 and fraction[:7].isdigit() and fraction[7] in "+-"


@pytest.fixture
def plain_and_drifted(anyio_backend: str) -> tuple[Simulator, Simulator]:
    """Two simulators of the same world: one plain, one in drift mode."""
    return Simulator(now=NOW, seed=5), Simulator(now=NOW, seed=5, drift=True)


async def test_every_deviation_kind_occurs_and_nothing_else_changes(
    plain_and_drifted: tuple[Simulator, Simulator],
) -> None:
    """A bulk audit's GETs in drift mode carry every kind, and each difference is one."""
    plain, drifted = plain_and_drifted
    paths = consumer_paths(plain)
    before, after = await answers(plain, paths), await answers(drifted, paths)
    assert before.keys() == after.keys()
    seen: Counter[str] = Counter()
    for path in before:
        if path.endswith("/jobs/first"):
            seen["first_job"] += 1
            continue
        for kind, where in classify(before[path], after[path]):
            assert kind != "unexplained", f"{path}: {where}"
            seen[kind] += 1
    assert set(seen) == set(DRIFT_KINDS), seen
    counted = {kind: n for kind, n in drifted.drift.counts.items()}
    assert counted == dict(seen)


async def test_links_and_identities_never_drift(
    plain_and_drifted: tuple[Simulator, Simulator],
) -> None:
    """href, id, $type and a listing's envelope are sent as documented, so walks work
    (jobs/first aside: only its href and completed are real there)."""
    plain, drifted = plain_and_drifted
    paths = [p for p in consumer_paths(plain) if not p.endswith("/jobs/first")]
    before, after = await answers(plain, paths), await answers(drifted, paths)
    for path, body in before.items():
        for kind, where in classify(body, after[path]):
            leaf = where.rsplit(".", 1)[-1]
            assert leaf not in {"href", "id", "$type", "actions"}, (kind, path, where)
        if isinstance(body, dict) and "items" in body:
            envelope = ("href", "total", "offset", "first")
            assert [after[path][k] for k in envelope] == [body[k] for k in envelope]
            assert len(after[path]["items"]) == len(body["items"])


async def test_jobs_first_is_bogus_but_its_completed_instant(
    plain_and_drifted: tuple[Simulator, Simulator],
) -> None:
    """jobs/first: 0, 0.0 or "" whatever the type, "" for objects, .NET default dates;
    the instant of completed intact."""
    plain, drifted = plain_and_drifted
    path = "bunits/22/consumers/408/jobs/first"
    before, after = (await answers(plain, [path]))[path], (await answers(drifted, [path]))[path]
    assert is_seven_digit(after["completed"])
    assert parse_iso(after["completed"]) == parse_iso(before["completed"])
    assert after["href"] == before["href"]
    for key in FIRST_JOB_OBJECTS:
        assert after[key] == ""
    assert after["createdDate"] == DOTNET_DEFAULT
    assert after["tags"] == []
    scalars = [k for k, v in before.items() if k not in ("href", "completed", "createdDate")]
    scalars = [k for k in scalars if not isinstance(before[k], (dict, list))]
    assert {type(after[k]) for k in scalars} <= {int, float, str}
    assert all(after[k] in (0, "") for k in scalars)
    assert len({repr(after[k]) for k in scalars}) > 1  # bogus whatever the field's type


async def test_drift_is_reproducible_whatever_the_order(anyio_backend: str) -> None:
    """Same seed: the same answers even when requested in another order; another seed differs."""
    paths = consumer_paths(Simulator(now=NOW))[:120]
    one = await answers(Simulator(now=NOW, drift=True), paths)
    two = await answers(Simulator(now=NOW, drift=True), list(reversed(paths)))
    other = await answers(Simulator(now=NOW, drift=Drift(seed=1)), paths)
    assert one == two
    assert one != other


async def test_kinds_and_rate_choose_the_deviations(anyio_backend: str) -> None:
    """kinds=["bare_name"] at rate 1: every lookup is a bare name, nothing else changes."""
    path = "bunits/22/consumers/408"
    plain = (await answers(Simulator(now=NOW), [path]))[path]
    sim = Simulator(now=NOW, drift=Drift(kinds=["bare_name"], rate=1.0))
    drifted = (await answers(sim, [path]))[path]
    kinds = {kind for kind, _ in classify(plain, drifted)}
    assert kinds == {"bare_name"}
    assert drifted["dataSourceState"] == plain["dataSourceState"]["name"]
    assert set(sim.drift.counts) == {"bare_name"}


async def test_rate_zero_leaves_all_but_jobs_first_alone(anyio_backend: str) -> None:
    """At rate 0 only jobs/first deviates (it always does in drift mode)."""
    paths = consumer_paths(Simulator(now=NOW, consumers=6))
    plain = await answers(Simulator(now=NOW, consumers=6), paths)
    sim = Simulator(now=NOW, consumers=6, drift=Drift(rate=0.0))
    drifted = await answers(sim, paths)
    changed = {p for p in paths if p in plain and plain[p] != drifted[p]}
    assert changed == {p for p in plain if p.endswith("/jobs/first")}
    assert set(sim.drift.counts) == {"first_job"}


async def test_drift_leaves_writes_and_errors_alone(anyio_backend: str) -> None:
    """Only successful answers to GETs drift: a POST's answer and a 404 are as documented."""
    sims = Simulator(now=NOW), Simulator(now=NOW, drift=Drift(rate=1.0))
    bodies = []
    for sim in sims:
        async with open_client(sim) as client:
            created = await client.post("bunits/22/consumers", json={"name": "DriftWS"})
            missing = await client.get("bunits/22/consumers/999999")
        answer = created.json()
        del answer["createdDate"]  # each world's clock runs from its own start
        bodies.append((created.status_code, answer, missing.status_code, missing.json()))
    assert bodies[0] == bodies[1]


async def test_drift_is_switched_at_run_time(anyio_backend: str) -> None:
    """sim.drift.enabled may be flipped while the simulator runs."""
    sim = Simulator(now=NOW)
    path = "bunits/22/consumers/408/jobs/first"
    async with open_client(sim) as client:
        plain = (await client.get(path)).json()
        sim.drift.enabled = True
        drifted = (await client.get(path)).json()
        sim.drift.enabled = False
        again = (await client.get(path)).json()
    assert plain == again != drifted
    assert drifted["status"] == ""


def test_drift_refuses_unknown_kinds_and_rates() -> None:
    """A typo in kinds or a rate outside [0, 1] is a clear ValueError."""
    with pytest.raises(ValueError, match="unknown drift kinds"):
        Drift(kinds=["bare_names"])
    with pytest.raises(ValueError, match="rate"):
        Drift(rate=1.5)


def test_serve_options_turn_drift_on() -> None:
    """`serve --drift --drift-rate 0.2 --seed 3` builds a drifting, seeded simulator."""
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    sim = simulator_from_args(parser.parse_args(["--drift", "--drift-rate", "0.2", "--seed", "3"]))
    assert (sim.drift.enabled, sim.drift.rate, sim.drift.seed) == (True, 0.2, 3)
    plain = simulator_from_args(parser.parse_args([]))
    assert plain.drift.enabled is False
    with pytest.raises(SystemExit):
        parser.parse_args(["--drift-rate", "2"])


async def test_a_plain_httpx_client_sees_the_drift_over_a_socket(anyio_backend: str) -> None:
    """Served on loopback, drift mode answers the same drifted JSON as in-process."""
    sim = Simulator(now=NOW, drift=True)
    path = "bunits/22/consumers/408/jobs/first"
    in_process = (await answers(sim, [path]))[path]
    with sim.serve_in_thread() as base_url:
        headers = {"Authorization": f"Bearer {sim.issue_token()}", "Origin": sim.origin}
        async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
            served = (await client.get(path)).json()
    assert served.pop("href").startswith(base_url)
    assert served == {k: v for k, v in in_process.items() if k != "href"}
    assert served["status"] == ""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cli_audit_demo_drift_audits_every_consumer(
    capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    """`cloutility audit --demo --drift` reads every consumer of the drifting portal: exit 0."""
    code = main(["audit", "--demo", "--drift", "--format", "json", "--backend", backend])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert "Traceback" not in err
    world = Simulator().world  # the demo's world: the same seed and size
    assert sorted(row["consumer_id"] for row in rows) == sorted(
        c.id for c in world.consumers_in_tree(world.root_id)
    )
    assert all(row["error"] is None for row in rows)


def test_cli_drift_needs_demo(capsys: pytest.CaptureFixture[str]) -> None:
    """--drift changes the embedded portal only: without --demo it is a usage error."""
    assert main(["audit", "--drift"]) == 2
    assert "--drift needs --demo" in capsys.readouterr().err


async def test_a_strict_client_sees_the_bogus_first_job(anyio_backend: str) -> None:
    """jobs/first's bogus values fail a strict SDK client (naming the field); a tolerant
    one reads the real ``completed`` and keeps the rest in ``unparsed``."""
    sim = Simulator(now=NOW, drift=True)
    world = sim.world
    activated = [
        c for c in world.consumers_in_tree(world.root_id) if world.first_job(c.id) is not None
    ]
    failures: list[str] = []
    async with Cloutility(**sim.client_options(), strict=True) as strict:
        for c in activated:
            try:
                await strict.bunit(c.bu_id).consumer(c.id).first_job()
            except DecodeError as exc:
                failures.append(str(exc))
    assert failures
    assert all("/jobs/first -> 200" in text and "@ $." in text for text in failures)
    async with Cloutility(**sim.client_options()) as tolerant:
        for c in activated:
            job = await tolerant.bunit(c.bu_id).consumer(c.id).first_job()
            first = world.first_job(c.id)
            assert first is not None
            assert job.completed == first.completed
        assert tolerant.statistics().schema_drift >= len(failures)
