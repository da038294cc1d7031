"""The jobs startTime rule and audit-log paging and filters."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from cloutility_async.testing import Simulator
from cloutility_async.testing._formats import parse_iso

from ._helpers import (
    BASE,
    ERROR_KEYS,
)

pytestmark = pytest.mark.anyio


# -- jobs quirk ---------------------------------------------------------------------------


async def test_jobs_without_interval_are_the_last_24_hours(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """Omitting startTime/endTime returns only jobs completed in the last 24 hours."""
    now = sim.world.current_time()
    recent = (await http.get("bunits/22/consumers/408/jobs")).json()
    assert recent["total"] >= 1
    for job in recent["items"]:
        assert now - timedelta(hours=24) <= parse_iso(job["completed"]) <= now
    everything = [j for j in sim.world.consumer(408).jobs]
    assert len(everything) > recent["total"]


async def test_jobs_start_time_must_not_precede_the_first_job(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """startTime earlier than the first job's completed is a 400; equal to it returns all."""
    first = (await http.get("bunits/22/consumers/408/jobs/first")).json()
    completed = parse_iso(first["completed"])
    assert first["examinedFiles"] == 0  # bogus, as the reference warns
    early = (completed - timedelta(milliseconds=1)).isoformat()
    refused = await http.get("bunits/22/consumers/408/jobs", params={"startTime": early})
    assert refused.status_code == 400
    assert set(refused.json()) == ERROR_KEYS
    ok = (
        await http.get("bunits/22/consumers/408/jobs", params={"startTime": first["completed"]})
    ).json()
    assert ok["total"] == len(sim.world.consumer(408).jobs)
    statuses = [j.raw["status"]["name"] for c in sim.world.consumers.values() for j in c.jobs]
    failed = sum(name in ("Failed", "Missed") for name in statuses)
    assert 0.03 < failed / len(statuses) < 0.25
    # The reference's literal (typo) route answers the same list.
    typo = (
        await http.get(
            "bunits/22/consumers/408/jobs/first", params={"startTime": first["completed"]}
        )
    ).json()
    assert [j["id"] for j in typo["items"]] == [j["id"] for j in ok["items"]]
    window = (
        await http.get(
            "bunits/22/consumers/408/jobs",
            params={"startTime": first["completed"], "endTime": first["completed"]},
        )
    ).json()
    assert window["total"] == 1


# -- audit logs ---------------------------------------------------------------------------


async def test_audit_log_pages_with_limit_and_offset(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """Three pages of 50 cover a >100-entry audit log exactly once."""
    heavy = next(
        c
        for c in sim.world.consumers.values()
        if c.heavy_audit and sim.world.is_within(c.bu_id, 22)
    )
    url = f"bunits/{heavy.bu_id}/consumers/{heavy.id}/auditlogs"
    base = {"includeDescendants": "true"}
    full = (await http.get(url, params={**base, "limit": 1000})).json()
    assert full["total"] > 100
    seen: list[int] = []
    offset = 0
    pages = 0
    while offset < full["total"]:
        page = (await http.get(url, params={**base, "limit": 50, "offset": offset})).json()
        assert page["offset"] == offset
        assert page["total"] == full["total"]
        assert len(page["items"]) <= 50
        seen.extend(item["id"] for item in page["items"])
        offset += 50
        pages += 1
    assert pages >= 3
    assert seen == [i["id"] for i in full["items"]]
    assert len(set(seen)) == len(seen)
    default = (await http.get(url, params=base)).json()
    assert len(default["items"]) == 100  # the default page size


async def test_audit_log_filters_and_order(http: httpx.AsyncClient, sim: Simulator) -> None:
    """types repeats (types=0&types=100), orderDesc reverses, descendants are opt-in."""
    heavy = next(
        c
        for c in sim.world.consumers.values()
        if c.heavy_audit and sim.world.is_within(c.bu_id, 22)
    )
    url = f"{BASE}bunits/{heavy.bu_id}/consumers/{heavy.id}/auditlogs"
    both = (await http.get(f"{url}?includeDescendants=true&limit=1000&types=0&types=100")).json()
    assert both["items"]
    assert {i["type"] for i in both["items"]} <= {0, 100}
    assert {i["typeName"] for i in both["items"]} <= {"Info", "Create"}
    asc = (await http.get(url, params={"limit": 1000, "includeDescendants": "true"})).json()
    desc = (
        await http.get(
            url, params={"limit": 1000, "includeDescendants": "true", "orderDesc": "true"}
        )
    ).json()
    assert [i["id"] for i in desc["items"]] == [i["id"] for i in reversed(asc["items"])]
    own = (await http.get(url, params={"limit": 1000})).json()
    assert own["total"] < asc["total"]
    entry = asc["items"][0]
    assert set(entry) == {
        "href",
        "id",
        "createdDate",
        "type",
        "typeName",
        "message",
        "userName",
        "userId",
        "businessUnitId",
        "consumerId",
    }
    middle = asc["items"][len(asc["items"]) // 2]["createdDate"]
    later = (
        await http.get(
            url, params={"limit": 1000, "includeDescendants": "true", "startTime": middle}
        )
    ).json()
    assert all(parse_iso(i["createdDate"]) >= parse_iso(middle) for i in later["items"])
    assert 0 < later["total"] < asc["total"]
    bad = await http.get(url, params={"types": "info"})
    assert bad.status_code == 400
