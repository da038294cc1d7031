"""The portal's payload shapes: hrefs, partial objects, dates, string numbers."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from cloutility_async.testing import Simulator

from ._helpers import (
    BASE,
    ERROR_KEYS,
    hrefs,
    open_client,
)

pytestmark = pytest.mark.anyio


async def test_full_version_and_me(http: httpx.AsyncClient) -> None:
    """fullVersion is a bare JSON string; me embeds the caller's business unit."""
    version = await http.get("fullVersion")
    assert version.text == '"1.0.4480.0"'
    me = (await http.get("me")).json()
    assert me["name"] == "demo"
    assert me["businessUnit"]["id"] == 22
    bu_type = "CloudPortal.Web.Api.Hyper.BusinessUnit, CloudPortal.Web.Api"
    assert me["businessUnit"]["$type"] == bu_type


async def test_bunit_tree_and_search(http: httpx.AsyncClient, sim: Simulator) -> None:
    """The SimpleBusinessUnit tree is rooted at the caller's unit (or ?bunitId=N)."""
    tree = (await http.get("bunits")).json()
    assert tree["id"] == 22
    assert tree["name"] == "Company AB"
    assert "parentId" not in tree
    children = {c["id"]: c for c in tree["businessUnits"]}
    assert {76, 94} <= set(children)
    assert children[76]["parentId"] == 22

    def depth(node: dict[str, Any]) -> int:
        return 1 + max((depth(c) for c in node["businessUnits"]), default=0)

    assert 3 <= depth(tree) <= 4
    sub = (await http.get("bunits", params={"bunitId": 76})).json()
    assert sub["id"] == 76
    assert "parentId" not in sub
    found = (await http.get("search/bunits", params={"searchTerm": "department"})).json()
    assert {"Marketing Department", "HR Department"} <= {b["name"] for b in found["items"]}
    assert found["total"] == len(found["items"])


async def test_business_unit_payload_shape(http: httpx.AsyncClient) -> None:
    """A BusinessUnit has an embedded time zone and collection stubs, as in the reference."""
    bu = (await http.get("bunits/22")).json()
    assert bu["href"] == f"{BASE}bunits/22"
    assert bu["createdDate"] == "2023-06-10T11:10:11.321Z"
    assert bu["registrationNumber"] == "SE556612345678"
    assert bu["parentBusinessUnit"]["name"] == "Safespring - Sverige"
    assert bu["timeZone"]["id"] == 4
    assert bu["timeZone"]["actions"][0]["href"] == f"{BASE}timezones/4/offset?date"
    for key in ("users", "addresses", "businessUnits"):
        stub = bu[key]
        assert stub["$type"].startswith("CloudPortal.Web.Api.Hyper.Collection`1[[")
        assert stub["href"] == f"{BASE}bunits/22/{'bunits' if key == 'businessUnits' else key}"
        assert stub["total"] == 0
        assert stub["items"] == []
    children = (await http.get("bunits/22/bunits")).json()
    assert children["total"] >= 2  # the stub says 0 even though children exist


async def test_hrefs_are_absolute_and_every_href_of_a_consumer_resolves(
    http: httpx.AsyncClient,
) -> None:
    """Each href in a consumer is absolute, built from the request URL, and answers 200."""
    consumer = (await http.get("bunits/22/consumers/408")).json()
    links = set(hrefs(consumer))
    assert consumer["href"] == f"{BASE}bunits/22/consumers/408"
    assert len(links) >= 5
    for link in links:
        assert link.startswith(BASE)
        response = await http.get(link)
        assert response.status_code == 200, link


async def test_hrefs_follow_the_host_header(sim: Simulator, anyio_backend: str) -> None:
    """The same request on another host yields hrefs on that host."""
    async with open_client(sim, base_url="https://portal.example:8443/v1/") as client:
        consumer = (await client.get("bunits/22/consumers/408")).json()
    assert consumer["href"] == "https://portal.example:8443/v1/bunits/22/consumers/408"
    assert consumer["businessUnit"]["href"] == "https://portal.example:8443/v1/bunits/22"


async def test_consumer_matches_the_reference_example(http: httpx.AsyncClient) -> None:
    """Consumer 408 is the reference's JennysWS, with the documented shapes and extras."""
    consumer = (await http.get("bunits/22/consumers/408")).json()
    assert consumer["name"] == "JennysWS"
    assert consumer["createdDate"] == "2023-07-09T15:10:20.133Z"
    assert consumer["billingStartDate"] == "2023-06-09T00:00:00Z"
    assert consumer["note"] == "Jenny's workstation."
    assert consumer["dataSourceType"] == {"id": 1, "name": "SP Backup node"}
    assert consumer["dataSourceState"] == {"id": 3, "name": "Active"}
    assert consumer["businessUnit"]["ancestors"]["items"] == []
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}[+-]\d\d:\d\d", consumer["latestRestorePoint"]
    )


async def test_list_items_are_thinner_than_single_items(http: httpx.AsyncClient) -> None:
    """Consumer lists carry fewer fields than GET of one consumer."""
    listing = (await http.get("bunits/22/consumers")).json()
    assert set(listing) == {"href", "total", "offset", "first", "items"}
    assert listing["total"] == len(listing["items"]) > 0
    item = next(i for i in listing["items"] if i["id"] == 408)
    single = (await http.get(item["href"])).json()
    assert set(item) < set(single)
    assert "businessUnit" not in item
    assert "businessUnit" in single


async def test_lists_do_not_depend_on_generation_state(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """A listing is the same before and after the consumers' details were generated."""
    before = (await http.get("bunits/22/consumers")).json()
    assert not any(sim.world.consumers[i["id"]].built for i in before["items"])
    for item in before["items"]:
        await http.get(item["href"])
    after = (await http.get("bunits/22/consumers")).json()
    assert after == before


async def test_undefined_fields_are_left_out(http: httpx.AsyncClient, sim: Simulator) -> None:
    """An unactivated node has no activatedDate; a consumer without node answers 404."""
    world = sim.world
    unactivated = next(
        c
        for c in world.consumers.values()
        if world.is_within(c.bu_id, 22) and world.details(c).node is not None and not c.activated
    )
    nodeless = next(
        c
        for c in world.consumers.values()
        if world.is_within(c.bu_id, 22) and world.details(c).node is None
    )
    node = (await http.get(f"bunits/{unactivated.bu_id}/consumers/{unactivated.id}/node")).json()
    assert "activatedDate" not in node
    assert "tsmName" not in node
    missing = await http.get(f"bunits/{nodeless.bu_id}/consumers/{nodeless.id}/node")
    assert missing.status_code == 404
    assert set(missing.json()) == ERROR_KEYS


async def test_date_shapes_and_timespans(http: httpx.AsyncClient, sim: Simulator) -> None:
    """All three date shapes appear, and job durations are .NET TimeSpans."""
    text = (
        await http.get("bunits/22/consumers/408/jobs", params={"startTime": "2000-01-01T00:00:00Z"})
    ).text
    first = (await http.get("bunits/22/consumers/408/jobs/first")).json()
    jobs = (
        await http.get("bunits/22/consumers/408/jobs", params={"startTime": first["completed"]})
    ).json()
    assert '"status":400' in text  # before the first job: refused
    assert re.search(
        r'"completed":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"',
        json.dumps(jobs, separators=(",", ":")),
    )
    assert any(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", j["scheduledStart"]) for j in jobs["items"]
    )
    durations = [j["duration"] for j in jobs["items"]]
    assert all(re.fullmatch(r"(\d+\.)?\d\d:\d\d:\d\d", d) for d in durations)
    assert any("." in d for d in durations)  # the initial full backup took over a day


async def test_reports_warnings_status_and_string_numbers(http: httpx.AsyncClient) -> None:
    """warnings/status appear only when asked; some megaBytes come as numeric strings."""
    plain = (await http.get("bunits/22/consumers/408/reports")).json()
    rich = (
        await http.get(
            "bunits/22/consumers/408/reports", params={"warnings": "true", "status": "true"}
        )
    ).json()
    assert plain["total"] == rich["total"] == 30
    assert all("warnings" not in r and "status" not in r for r in plain["items"])
    assert all("warnings" in r and "status" in r for r in rich["items"])
    kinds = {type(r["megaBytes"]) for r in plain["items"]}
    assert kinds == {float, str}
    assert all(float(r["megaBytes"]) > 0 for r in plain["items"])
    latest = (
        await http.get("bunits/22/consumers/408/reports/latest", params={"userId": 17})
    ).json()
    assert latest["id"] == plain["items"][-1]["id"]
    assert {
        "consumerId",
        "nodeId",
        "businessUnitId",
        "businessUnitName",
        "tsmName",
        "reportDate",
    } <= set(latest)
    one_day = (
        await http.get(
            "bunits/22/consumers/408/reports",
            params={"startDate": latest["reportDate"], "endDate": latest["reportDate"]},
        )
    ).json()
    assert [r["id"] for r in one_day["items"]] == [latest["id"]]
