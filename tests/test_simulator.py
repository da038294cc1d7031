"""The Cloutility simulator, exercised through plain httpx (in-process and on a socket)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream

from cloutility_async.testing import (
    FULL_VERSION,
    BillingSubscriber,
    Faults,
    SimulatedDisconnect,
    Simulator,
    SimulatorStats,
    SubscriberTestResult,
)
from cloutility_async.testing._formats import parse_iso

pytestmark = pytest.mark.anyio

BASE = "http://sim.test/v1/"
UTC = timezone.utc
ERROR_KEYS = {"status", "code", "message", "developerMessage"}
DENIED = {"message": "Authorization has been denied for this request."}


def auth_headers(sim: Simulator, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or sim.issue_token()}", "Origin": sim.origin}


@asynccontextmanager
async def open_client(
    sim: Simulator, *, authed: bool = True, base_url: str = BASE
) -> AsyncIterator[httpx.AsyncClient]:
    headers = auth_headers(sim) if authed else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url=base_url, headers=headers
    ) as client:
        yield client


async def password_grant(
    client: httpx.AsyncClient, sim: Simulator, **overrides: str
) -> httpx.Response:
    form = {
        "client_id": sim.client_id,
        "grant_type": "password",
        "username": sim.username,
        "password": sim.password,
    }
    origin = overrides.pop("origin", sim.origin)
    form.update(overrides)
    return await client.post("oauth", data=form, headers={"Origin": origin})


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture
async def http(sim: Simulator, anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    async with open_client(sim) as client:
        yield client


def hrefs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "href" and isinstance(v, str):
                yield v
            else:
                yield from hrefs(v)
    elif isinstance(value, list):
        for item in value:
            yield from hrefs(item)


# -- OAuth ---------------------------------------------------------------------------------


async def test_password_grant_returns_the_documented_token(sim: Simulator) -> None:
    """A password grant answers access_token, bearer, expires_in 299 and a refresh token."""
    async with open_client(sim, authed=False) as client:
        response = await password_grant(client, sim)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 299
    assert body["access_token"] != body["refresh_token"]
    assert sim.stats.grants == {"password": 1, "refresh_token": 0}
    assert sim.stats.grants_total == 1


async def test_refresh_grant_keeps_the_refresh_token(sim: Simulator) -> None:
    """Refreshing issues a new access token; the refresh token stays the same."""
    async with open_client(sim, authed=False) as client:
        first = (await password_grant(client, sim)).json()
        form = {
            "client_id": sim.client_id,
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
        }
        second = await client.post("oauth", data=form, headers={"Origin": sim.origin})
        third = await client.post("oauth", data=form, headers={"Origin": sim.origin})
        assert second.status_code == third.status_code == 200
        assert second.json()["refresh_token"] == first["refresh_token"]
        assert third.json()["refresh_token"] == first["refresh_token"]
        assert (
            len(
                {first["access_token"], second.json()["access_token"], third.json()["access_token"]}
            )
            == 3
        )
        version = await client.get(
            "fullVersion", headers=auth_headers(sim, third.json()["access_token"])
        )
    assert version.json() == FULL_VERSION
    assert sim.stats.grants == {"password": 1, "refresh_token": 2}


async def test_refresh_is_refused_for_a_client_without_refresh(sim: Simulator) -> None:
    """A client ID without "allow refresh" gets invalid_grant on refresh."""
    sim.register_client("no-refresh-client", "https://batch.example", allow_refresh=False)
    async with open_client(sim, authed=False) as client:
        login = await password_grant(
            client, sim, client_id="no-refresh-client", origin="https://batch.example"
        )
        assert login.status_code == 200
        refused = await client.post(
            "oauth",
            data={
                "client_id": "no-refresh-client",
                "grant_type": "refresh_token",
                "refresh_token": login.json()["refresh_token"],
            },
            headers={"Origin": "https://batch.example"},
        )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert refused.json()["error_description"]
    assert sim.stats.rejections["refresh_refused"] == 1


async def test_unknown_or_revoked_refresh_token_is_invalid_grant(sim: Simulator) -> None:
    """Unknown refresh tokens and revoked sessions are refused."""
    async with open_client(sim, authed=False) as client:
        login = (await password_grant(client, sim)).json()
        form = {"client_id": sim.client_id, "grant_type": "refresh_token"}
        unknown = await client.post(
            "oauth", data={**form, "refresh_token": "nope"}, headers={"Origin": sim.origin}
        )
        sim.revoke_tokens(refresh_tokens=True)
        revoked = await client.post(
            "oauth",
            data={**form, "refresh_token": login["refresh_token"]},
            headers={"Origin": sim.origin},
        )
    assert unknown.status_code == revoked.status_code == 400
    assert unknown.json()["error"] == revoked.json()["error"] == "invalid_grant"


async def test_bad_credentials_are_invalid_grant(sim: Simulator) -> None:
    """A wrong password answers the OWIN error for bad credentials."""
    async with open_client(sim, authed=False) as client:
        response = await password_grant(client, sim, password="wrong")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The user name or password is incorrect.",
    }
    assert sim.stats.grants_total == 0
    assert sim.stats.rejections["invalid_grant"] == 1


async def test_unknown_client_and_wrong_origin_are_invalid_client(sim: Simulator) -> None:
    """The token endpoint checks the client ID and that Origin matches its registration."""
    async with open_client(sim, authed=False) as client:
        unknown = await password_grant(client, sim, client_id="00000000-0000-0000-0000-0000")
        wrong_origin = await password_grant(client, sim, origin="https://evil.example")
        no_origin = await client.post(
            "oauth",
            data={
                "client_id": sim.client_id,
                "grant_type": "password",
                "username": sim.username,
                "password": sim.password,
            },
        )
        unsupported = await password_grant(client, sim, grant_type="client_credentials")
    for response in (unknown, wrong_origin, no_origin):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client"
    assert unsupported.json()["error"] == "unsupported_grant_type"
    assert sim.stats.rejections["invalid_client"] == 1
    assert sim.stats.rejections["bad_origin"] == 1
    assert sim.stats.rejections["missing_origin"] == 1


# -- bearer checks -------------------------------------------------------------------------


async def test_requests_without_a_token_get_401(sim: Simulator) -> None:
    """No Authorization header: ASP.NET's denial body."""
    async with open_client(sim, authed=False) as client:
        response = await client.get("bunits", headers={"Origin": sim.origin})
        garbage = await client.get(
            "bunits", headers={"Origin": sim.origin, "Authorization": "Bearer garbage"}
        )
    assert response.status_code == garbage.status_code == 401
    assert response.json() == DENIED
    assert sim.stats.rejections["missing_token"] == 1
    assert sim.stats.rejections["invalid_token"] == 1


async def test_expired_tokens_get_401(anyio_backend: str) -> None:
    """Tokens expire after token_lifetime seconds (fractions allowed)."""
    sim = Simulator(token_lifetime=0.3)
    async with open_client(sim, authed=False) as client:
        token = (await password_grant(client, sim)).json()["access_token"]
        fresh = await client.get("fullVersion", headers=auth_headers(sim, token))
        await anyio.sleep(0.35)
        stale = await client.get("fullVersion", headers=auth_headers(sim, token))
    assert fresh.status_code == 200
    assert stale.status_code == 401
    assert stale.json() == DENIED
    assert sim.stats.rejections["expired_token"] == 1


async def test_expire_and_revoke_tokens(sim: Simulator) -> None:
    """expire_tokens() and revoke_tokens() make current tokens fail; new ones work."""
    async with open_client(sim, authed=False) as client:
        token = (await password_grant(client, sim)).json()["access_token"]
        sim.expire_tokens()
        expired = await client.get("me", headers=auth_headers(sim, token))
        token = (await password_grant(client, sim)).json()["access_token"]
        sim.revoke_tokens()
        revoked = await client.get("me", headers=auth_headers(sim, token))
        renewed = await client.get("me", headers=auth_headers(sim))
    assert expired.status_code == revoked.status_code == 401
    assert renewed.status_code == 200
    assert sim.stats.rejections["expired_token"] == 1
    assert sim.stats.rejections["revoked"] == 1


async def test_origin_must_match_the_tokens_client(sim: Simulator) -> None:
    """A valid token sent with another (or no) Origin is refused."""
    token = sim.issue_token()
    async with open_client(sim, authed=False) as client:
        wrong = await client.get(
            "me", headers={"Authorization": f"Bearer {token}", "Origin": "https://other.example"}
        )
        missing = await client.get("me", headers={"Authorization": f"Bearer {token}"})
    assert wrong.status_code == missing.status_code == 401
    assert wrong.json()["message"]
    assert sim.stats.rejections["bad_origin"] == 1
    assert sim.stats.rejections["missing_origin"] == 1


# -- payloads ------------------------------------------------------------------------------


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


# -- jobs quirk ----------------------------------------------------------------------------


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


# -- audit logs ----------------------------------------------------------------------------


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


# -- nodes ---------------------------------------------------------------------------------


async def test_activate_validates_storage_protect_names(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """tsmName must be 1-64 letters, digits or _ - . + &; success answers a bare string."""
    world = sim.world
    target = next(
        c
        for c in world.consumers.values()
        if world.is_within(c.bu_id, 22) and world.details(c).node is not None and not c.activated
    )
    consumer_url = f"bunits/{target.bu_id}/consumers/{target.id}"
    url = f"{consumer_url}/node/activate"
    for bad in ("", "has space", "x" * 65, "åäö", "semi;colon"):
        response = await http.get(url, params={"tsmName": bad})
        assert response.status_code == 400, bad
        assert set(response.json()) == ERROR_KEYS
    suggested = (await http.get(f"{consumer_url}/node/spname")).json()
    assert isinstance(suggested, str)
    assert suggested
    good = await http.get(url, params={"tsmName": "DEPT-A.B+C&D_1"})
    assert good.status_code == 200
    assert good.json() == "DEPT-A.B+C&D_1"
    node = (await http.get(f"{consumer_url}/node")).json()
    assert node["tsmName"] == "DEPT-A.B+C&D_1"
    assert "activatedDate" in node
    consumer = (await http.get(consumer_url)).json()
    assert consumer["dataSourceState"]["name"] == "Active"


async def test_node_lifecycle_with_id_references(http: httpx.AsyncClient, sim: Simulator) -> None:
    """POST node takes related objects by id (keys case-insensitive); password; delete."""
    created = (await http.post("bunits/22/consumers", json={"name": "LisasWS"})).json()
    node_url = f"bunits/22/consumers/{created['id']}/node"
    assert (await http.get(node_url)).status_code == 404
    body = {
        "OperatingSystem": {"Id": 2},
        "type": {"id": 1},
        "domain": {"id": 1},
        "clientOptionSet": {"id": 3},
        "contact": "Lisa",
        "cpuCount": 2,
    }
    node = (await http.post(node_url, json=body)).json()
    assert node["operatingSystem"]["name"] == "Linux x86_64"
    assert node["operatingSystem"]["href"] == f"{BASE}nodeoperatingsystems/2"
    assert node["clientOptionSet"]["name"] == "LINUX"
    assert node["cpuCount"] == 2
    assert "activatedDate" not in node
    bad_ref = await http.post(
        f"bunits/22/consumers/{created['id']}/node",
        json={"operatingSystem": {"id": 99}, "type": {"id": 1}},
    )
    assert bad_ref.status_code == 400
    password = await http.post(f"{node_url}/password", json={"tsmPassword": "s3cret-pass"})
    assert password.status_code == 200
    assert sim.world.node(created["id"])["tsmPassword"] == "s3cret-pass"
    deleted = await http.delete(node_url)
    assert deleted.status_code == 200
    assert (await http.get(f"bunits/22/consumers/{created['id']}")).status_code == 404
    assert sim.stats.creates["node:LisasWS"] == 1


async def test_proxy_relationships(http: httpx.AsyncClient, sim: Simulator) -> None:
    """Proxy agents/targets can be set from either side and severed."""
    candidates = (await http.get("bunits/22/consumers/408/node/possibleproxynodes")).json()
    assert candidates["items"]
    other_href = candidates["items"][0]["href"]
    other_id = int(other_href.split("/consumers/")[1].split("/")[0])
    added = await http.post(
        "bunits/22/consumers/408/node/proxyagents", params={"proxyAgentId": other_id}
    )
    assert added.status_code == 200
    assert [a["href"] for a in added.json()["proxyAgents"]] == [other_href]
    other = (await http.get(other_href)).json()
    assert [t["href"] for t in other["proxyTargets"]] == [f"{BASE}bunits/22/consumers/408/node"]
    gone = await http.delete(f"bunits/22/consumers/408/node/proxyagents/{other_id}")
    assert gone.status_code == 204
    again = await http.delete(f"bunits/22/consumers/408/node/proxyagents/{other_id}")
    assert again.status_code == 404
    via_target = await http.post(
        "bunits/22/consumers/408/node/proxytargets", params={"proxyTargetId": other_id}
    )
    assert [t["href"] for t in via_target.json()["proxyTargets"]] == [other_href]
    assert (408, other_id) in sim.world.proxies


async def test_filespaces_and_catalogs(http: httpx.AsyncClient) -> None:
    """Filespaces, node OS/types, warning types, domains and option sets are lists."""
    filespaces = (
        await http.get("bunits/22/consumers/408/node/filespaces", params={"tsmSync": "false"})
    ).json()
    assert filespaces["total"] >= 1
    for path in (
        "nodeoperatingsystems",
        "nodetypes",
        "nodewarningtypes",
        "timezones",
        "bunits/22/defaultserver/domains",
        "bunits/22/defaultserver/clientoptionsets",
    ):
        listing = (await http.get(path)).json()
        assert listing["total"] == len(listing["items"]) >= 4, path
    os_one = (await http.get("nodeoperatingsystems/1")).json()
    assert os_one["supportedNodeTypes"]
    server = (await http.get("bunits/22/defaultserver")).json()
    assert server["name"] == "TSM01"
    assert (await http.get("nodetypes/77")).status_code == 404


async def test_time_zone_offsets(http: httpx.AsyncClient) -> None:
    """W. Europe is +60 in winter and +120 in summer."""
    winter = await http.get("timezones/4/offset", params={"date": "2024-01-15T12:00:00Z"})
    summer = await http.get("timezones/4/offset", params={"date": "2024-07-15T12:00:00Z"})
    assert (winter.json(), summer.json()) == (60, 120)
    tz = (await http.get("timezones/4")).json()
    assert tz["windowsId"] == "W. Europe Standard Time"


# -- writes --------------------------------------------------------------------------------


async def test_create_consumer_is_counted_and_validated(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """POST consumers needs a name; each creation is counted by name."""
    missing = await http.post("bunits/22/consumers", json={"note": "no name"})
    assert missing.status_code == 400
    assert set(missing.json()) == ERROR_KEYS
    malformed = await http.post(
        "bunits/22/consumers", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    created = await http.post("bunits/22/consumers", json={"Name": "LisasWS", "note": "n"})
    assert created.status_code == 200
    body = created.json()
    assert body["name"] == "LisasWS"
    assert body["businessUnit"]["id"] == 22
    assert body["href"] == f"{BASE}bunits/22/consumers/{body['id']}"
    assert sim.stats.creates["LisasWS"] == 1
    assert sim.world.consumer(body["id"]).name == "LisasWS"
    listed = (await http.get("bunits/22/consumers")).json()
    assert body["id"] in {i["id"] for i in listed["items"]}


async def test_put_stores_every_field_including_unknown_ones(http: httpx.AsyncClient) -> None:
    """PUT merges the body (case-insensitively) and keeps fields the SDK does not know."""
    consumer = (await http.get("bunits/22/consumers/408")).json()
    consumer["note"] = "changed"
    consumer["futureField"] = {"nested": [1, 2]}
    consumer["NAME"] = "JennysLaptop"
    updated = await http.put("bunits/22/consumers/408", json=consumer)
    assert updated.status_code == 200
    again = (await http.get("bunits/22/consumers/408")).json()
    assert again["note"] == "changed"
    assert again["futureField"] == {"nested": [1, 2]}
    assert again["name"] == "JennysLaptop"
    assert "NAME" not in again
    bu = (await http.get("bunits/76")).json()
    bu["registrationNumber"] = "SE000"
    bu["systemId"] = "abc"
    await http.put("bunits/76", json=bu)
    stored = (await http.get("bunits/76")).json()
    assert (stored["registrationNumber"], stored["systemId"]) == ("SE000", "abc")


async def test_business_unit_create_and_delete(http: httpx.AsyncClient, sim: Simulator) -> None:
    """POST bunits/{id}/bunits creates a child with the chosen time zone; DELETE removes it."""
    created = await http.post(
        "bunits/94/bunits",
        json={"name": "Payroll", "registrationNumber": "SE1", "timeZone": {"id": 5}},
    )
    assert created.status_code == 200
    body = created.json()
    assert body["timeZone"]["id"] == 5
    assert body["parentBusinessUnit"]["id"] == 94
    assert sim.stats.creates["bunit:Payroll"] == 1
    assert (await http.delete(f"bunits/{body['id']}")).status_code == 204
    assert (await http.get(f"bunits/{body['id']}")).status_code == 404
    not_empty = await http.delete("bunits/76")
    assert not_empty.status_code == 400


async def test_delete_consumer(http: httpx.AsyncClient, sim: Simulator) -> None:
    """DELETE with deleteAssociations/deletionComment removes the consumer."""
    response = await http.delete(
        "bunits/22/consumers/408", params={"deleteAssociations": "true", "deletionComment": "gone"}
    )
    assert response.status_code == 204
    assert response.content == b""
    assert (await http.get("bunits/22/consumers/408")).status_code == 404
    assert 408 not in sim.world.consumers


# -- errors & boundaries -------------------------------------------------------------------


async def test_unknown_routes_methods_and_ids(http: httpx.AsyncClient) -> None:
    """404 for unknown routes/ids, 405 with Allow for wrong methods, 400 for bad ids."""
    unknown = await http.get("nothing/here")
    assert unknown.status_code == 404
    assert set(unknown.json()) == ERROR_KEYS
    assert (await http.get("bunits/999999")).status_code == 404
    assert (await http.get("bunits/22/consumers/999999")).status_code == 404
    wrong = await http.patch("bunits/22", json={})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "DELETE, GET, PUT"
    malformed = await http.get("bunits/twenty-two")
    assert malformed.status_code == 400
    assert set(malformed.json()) == ERROR_KEYS
    assert (await http.get("FULLVERSION")).status_code == 200  # routes ignore case


async def test_business_units_outside_the_tree_are_forbidden(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """The parent and sibling of the caller's unit are out of bounds."""
    for path in ("bunits/13", "bunits/23/consumers", "bunits/23/consumers/900001"):
        response = await http.get(path)
        assert response.status_code == 403, path
    elsewhere = next(
        c
        for c in sim.world.consumers.values()
        if c.bu_id != 22 and sim.world.is_within(c.bu_id, 22)
    )
    wrong_parent = await http.get(f"bunits/22/consumers/{elsewhere.id}")
    assert wrong_parent.status_code == 404


async def test_client_bound_to_a_sub_unit(sim: Simulator, anyio_backend: str) -> None:
    """A client ID bound to business unit 76 sees only that subtree."""
    sim.register_client("dept-client", "https://dept.example", bunit_id=76)
    token = sim.issue_token("dept-client")
    async with open_client(sim, authed=False) as client:
        headers = {"Authorization": f"Bearer {token}", "Origin": "https://dept.example"}
        tree = (await client.get("bunits", headers=headers)).json()
        root = await client.get("bunits/22", headers=headers)
    assert tree["id"] == 76
    assert root.status_code == 403


# -- billing -------------------------------------------------------------------------------


async def test_invoices_json_and_csv(http: httpx.AsyncClient) -> None:
    """Invoices come as JSON by default and as CSV when asked."""
    invoices = (await http.get("bunits/22/invoices")).json()
    assert invoices["total"] == 6
    href = invoices["items"][0]["href"]
    assert re.search(r"/invoices/\d{4}-\d\d-01$", href)
    one = (await http.get(href)).json()
    assert one["lines"]
    csv_one = await http.get(href, headers={"Accept": "text/csv"})
    assert csv_one.headers["content-type"].startswith("text/csv")
    rows = csv_one.text.strip().splitlines()
    assert rows[0].startswith("invoiceDate,")
    assert len(rows) == len(one["lines"]) + 1
    assert (await http.get("bunits/22/invoices/2024-13-01")).status_code == 400
    assert (await http.get("bunits/22/invoices/1999-01-01")).status_code == 404


async def test_invoice_file_upload_and_download(http: httpx.AsyncClient, sim: Simulator) -> None:
    """A multipart upload is stored; its href serves the same bytes and content type."""
    pdf = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF"
    response = await http.post(
        "bunits/22/invoicefiles",
        params={"erpReference": "ERP-42", "sendToBillingAddress": "true"},
        files={"file": ("may.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["fileName"] == "may.pdf"
    assert body["contentType"] == "application/pdf"
    assert body["size"] == len(pdf)
    assert body["erpReference"] == "ERP-42"
    assert body["sendToBillingAddress"] is True
    download = await http.get(body["href"])
    assert download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    listing = (await http.get("bunits/22/invoicefiles")).json()
    assert body["id"] in {f["id"] for f in listing["items"]}
    assert sim.stats.creates["invoicefile:may.pdf"] == 1
    not_multipart = await http.post("bunits/22/invoicefiles", json={"x": 1})
    assert not_multipart.status_code == 415


def multipart(disposition: str, data: bytes = b"%PDF-1.7") -> tuple[bytes, str]:
    boundary = "sim-boundary-42"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('form-data; name="file"; filename="may; june.pdf"', "may; june.pdf"),
        ('form-data; name="file"; filename="say %22hi%22; v2.pdf"', 'say "hi"; v2.pdf'),
        ('form-data; name="file"; filename="back\\\\slash.pdf"', "back\\slash.pdf"),
        (
            'form-data; name="file"; filename="fallback.pdf"; '
            "filename*=UTF-8''r%C3%A4kning%3B%20maj.pdf",
            "räkning; maj.pdf",
        ),
        ("form-data; name=file; filename*=iso-8859-1'sv'k%F6p.pdf", "köp.pdf"),
        (
            'form-data; name="file"; filename*=no-such-charset\'\'x.pdf; filename="plain.pdf"',
            "plain.pdf",
        ),
        ("form-data; name=file; filename=token.pdf", "token.pdf"),
    ],
)
async def test_invoice_file_upload_decodes_the_file_name(
    http: httpx.AsyncClient, sim: Simulator, disposition: str, expected: str
) -> None:
    """Quoted names keep their ';', %22 is a quote, filename* (RFC 5987) wins when it decodes."""
    body, content_type = multipart(disposition)
    response = await http.post(
        "bunits/22/invoicefiles", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200
    assert response.json()["fileName"] == expected
    assert sim.stats.creates["invoicefile:" + expected] == 1


async def test_invoice_file_upload_name_round_trips_from_httpx(http: httpx.AsyncClient) -> None:
    """httpx percent-encodes '"' and escapes '\\'; the stored name is the original."""
    name = 'say "hi"; back\\slash; räkning.pdf'
    response = await http.post(
        "bunits/22/invoicefiles", files={"file": (name, b"%PDF", "application/pdf")}
    )
    assert response.status_code == 200
    assert response.json()["fileName"] == name


async def test_billing_with_forecast_and_contract(http: httpx.AsyncClient) -> None:
    """billing?includeNext=N adds N forecast entries; billing/{date} answers one entry."""
    plain = (await http.get("bunits/22/billing")).json()
    ahead = (
        await http.get("bunits/22/billing", params={"includeNext": 2, "useForecasting": "true"})
    ).json()
    assert ahead["total"] == plain["total"] + 2
    past = plain["items"][0]
    assert past["invoices"]
    assert past["summary"][0]["currency"]["code"] == "SEK"
    one = (await http.get(past["href"])).json()
    assert one["invoiceDateStr"] == past["invoiceDateStr"]
    csv_text = (await http.get("bunits/22/billing", headers={"Accept": "text/csv"})).text
    assert csv_text.startswith("invoiceDate,")
    contract = (await http.get("bunits/22/contract")).json()
    assert contract["currency"]["code"] == "SEK"
    assert contract["subscriptions"][0]["components"]


# -- faults --------------------------------------------------------------------------------


async def test_latency_fault(http: httpx.AsyncClient, sim: Simulator) -> None:
    """latency_ms delays every answer (but not the token endpoint by default)."""
    sim.faults.latency_ms = 60
    started = time.perf_counter()
    response = await http.get("fullVersion")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.055
    assert (await password_grant(http, sim)).status_code == 200
    assert sim.stats.faults_injected["latency"] == 1  # the token endpoint was not delayed


async def test_rate_limit_fault_sends_retry_after(http: httpx.AsyncClient, sim: Simulator) -> None:
    """rate_limit_rate answers 429 with Retry-After (fractional seconds allowed)."""
    sim.faults.rate_limit_rate = 1.0
    sim.faults.retry_after = 0.05
    fractional = await http.get("bunits")
    sim.faults.retry_after = 2
    whole = await http.get("bunits")
    assert fractional.status_code == whole.status_code == 429
    assert fractional.headers["retry-after"] == "0.05"
    assert whole.headers["retry-after"] == "2"
    assert fractional.json()["status"] == 429
    sim.faults.rate_limit_rate = 0.0
    assert (await http.get("bunits")).status_code == 200
    assert sim.stats.faults_injected["rate_limit"] == 2


async def test_server_error_fault_mixes_json_and_html(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """server_error_rate answers 502/503/504 with JSON or an HTML gateway page."""
    sim.faults.server_error_rate = 1.0
    responses = [await http.get("fullVersion") for _ in range(12)]
    assert {r.status_code for r in responses} <= {502, 503, 504}
    kinds = {r.headers["content-type"].split(";")[0] for r in responses}
    assert kinds == {"application/json", "text/html"}


async def test_html_error_fault(http: httpx.AsyncClient, sim: Simulator) -> None:
    """html_error_rate answers an HTML page, sometimes with status 200."""
    sim.faults.html_error_rate = 1.0
    responses = [await http.get("me") for _ in range(10)]
    assert all(r.headers["content-type"].startswith("text/html") for r in responses)
    assert {r.status_code for r in responses} == {200, 500}
    assert all(r.text.lstrip().startswith("<") for r in responses)


async def test_injected_faults_answer_the_next_matching_requests(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """ "The next 2 GETs of consumers get 503", then normal service resumes."""
    rule = sim.faults.inject("GET /bunits/*/consumers", 503, times=2)
    other = await http.get("bunits/22")
    first = await http.get("bunits/22/consumers")
    second = await http.get("bunits/22/consumers")
    third = await http.get("bunits/22/consumers")
    assert other.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert set(first.json()) == ERROR_KEYS
    assert rule.hits == 2
    assert rule.exhausted
    assert sim.faults.pending == []
    sim.faults.next_responses(429, 500, match="GET")
    statuses = [(await http.get("fullVersion")).status_code for _ in range(3)]
    assert statuses == [429, 500, 200]
    custom = sim.faults.inject("/fullVersion", 200, body="<html>login</html>")
    page = await http.get("fullVersion")
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == "<html>login</html>"
    assert custom.exhausted
    assert sim.stats.faults_injected["injected"] == 5


async def test_drop_fault_in_process_raises_remote_protocol_error(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """In-process, a dropped connection surfaces as httpx.RemoteProtocolError."""
    sim.faults.drop_next("GET /fullVersion")
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await http.get("fullVersion")
    assert isinstance(info.value, SimulatedDisconnect)
    assert (await http.get("fullVersion")).status_code == 200
    sim.faults.drop_rate = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get("me")
    assert sim.stats.faults_injected["drop"] == 1


async def test_lost_response_after_the_write_happened(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """inject(after=True) runs the handler and then loses its answer."""
    sim.faults.inject("POST /bunits/22/consumers", 504, after=True)
    lost = await http.post("bunits/22/consumers", json={"name": "GhostWS"})
    assert lost.status_code == 504
    assert sim.stats.creates["GhostWS"] == 1
    assert len(sim.world.find_consumers("GhostWS")) == 1


async def test_faults_skip_oauth_unless_included(sim: Simulator, anyio_backend: str) -> None:
    """Random faults leave the token endpoint alone unless include_oauth is set."""
    sim.faults.server_error_rate = 1.0
    async with open_client(sim, authed=False) as client:
        assert (await password_grant(client, sim)).status_code == 200
        sim.faults.include_oauth = True
        assert (await password_grant(client, sim)).status_code in (502, 503, 504)


def test_random_faults_are_seeded() -> None:
    """The same seed gives the same fault sequence."""

    def sequence(seed: int) -> list[str]:
        faults = Faults(server_error_rate=0.3, rate_limit_rate=0.2, seed=seed)
        out = []
        for _ in range(50):
            fault = faults.random_fault()
            out.append("ok" if fault is None else f"{fault.kind}:{fault.status}")
        return out

    assert sequence(1) == sequence(1)
    assert sequence(1) != sequence(2)
    assert {"ok", "rate_limit:429"} <= set(sequence(1))


async def test_concurrency_is_tracked(http: httpx.AsyncClient, sim: Simulator) -> None:
    """in_flight/peak_in_flight count concurrent requests inside the app."""
    sim.faults.latency_ms = 100
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(http.get, "fullVersion")
    assert sim.stats.peak_in_flight == 5
    assert sim.stats.in_flight == 0
    assert sim.stats.requests["GET /fullVersion"] == 5
    assert sim.stats.statuses[200] == 5
    sim.stats.reset()
    assert sim.stats.requests_total == 0
    assert sim.stats.grants == {"password": 0, "refresh_token": 0}


async def test_requests_are_counted_by_route_template(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """stats.requests keys are route templates."""
    await http.get("bunits/22/consumers/408")
    await http.get("bunits/76/consumers")
    await http.get("does/not/exist")
    assert sim.stats.requests["GET /bunits/{id}/consumers/{id}"] == 1
    assert sim.stats.requests["GET /bunits/{id}/consumers"] == 1
    assert sim.stats.requests["GET <unknown>"] == 1
    assert sim.stats.requests_total == 3
    assert isinstance(sim.stats, SimulatorStats)


# -- world ---------------------------------------------------------------------------------


def test_world_is_deterministic_by_seed() -> None:
    """Same seed and now: identical data; another seed: a different world."""
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    a, b, c = (Simulator(seed=s, now=now) for s in (7, 7, 8))

    def snapshot(sim: Simulator) -> list[Any]:
        world = sim.world
        return [
            [(bu.id, bu.parent_id, bu.raw) for bu in world.bunits.values()],
            [
                (
                    x.id,
                    x.bu_id,
                    x.name,
                    world.details(x).raw,
                    x.node,
                    [j.raw for j in x.jobs],
                    [e.message for e in x.audit],
                )
                for x in world.consumers.values()
            ],
        ]

    assert snapshot(a) == snapshot(b)
    assert snapshot(a) != snapshot(c)
    # Lazily generated details do not depend on access order.
    d = Simulator(seed=7, now=now)
    d.world.consumer(430)
    assert d.world.consumer(420).raw == a.world.consumer(420).raw


def test_world_of_50000_consumers_builds_quickly() -> None:
    """A 50,000-consumer world is built in well under a few seconds."""
    started = time.perf_counter()
    sim = Simulator(consumers=50_000)
    elapsed = time.perf_counter() - started
    world = sim.world
    in_tree = sum(1 for c in world.consumers.values() if world.is_within(c.bu_id, 22))
    assert in_tree == 50_000
    assert elapsed < 3.0
    assert len(world.bunits) > 100
    last = world.consumer(408 + 49_999)
    assert last.raw["id"] == 408 + 49_999


# -- a real socket -------------------------------------------------------------------------


async def test_real_server_on_loopback(sim: Simulator, anyio_backend: str) -> None:
    """serve_in_thread serves over TCP; hrefs use the socket's address; drops cut the socket."""
    with sim.serve_in_thread() as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/", base_url)
        async with httpx.AsyncClient(base_url=base_url) as client:
            login = await password_grant(client, sim)
            headers = auth_headers(sim, login.json()["access_token"])
            consumer = (await client.get("bunits/22/consumers/408", headers=headers)).json()
            assert consumer["href"] == f"{base_url}bunits/22/consumers/408"
            sim.faults.drop_next("GET /fullVersion")
            with pytest.raises(httpx.RemoteProtocolError) as info:
                await client.get("fullVersion", headers=headers)
            assert not isinstance(info.value, SimulatedDisconnect)
            assert (await client.get("fullVersion", headers=headers)).json() == FULL_VERSION
            sim.faults.latency_ms = 20
            started = time.perf_counter()
            await client.get("fullVersion", headers=headers)
            assert time.perf_counter() - started >= 0.018
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(base_url + "fullVersion")


def test_real_server_answers_expect_100_continue(sim: Simulator) -> None:
    """A client sending Expect: 100-continue gets the interim answer, then the response."""
    import socket

    body = b'{"name": "ExpectWS"}'
    with sim.serve_in_thread() as base_url:
        port = int(base_url.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            head = (
                "POST /v1/bunits/22/consumers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {sim.issue_token()}\r\nOrigin: {sim.origin}\r\n"
                "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            conn.sendall(head.encode())
            interim = conn.recv(1024)
            assert interim.startswith(b"HTTP/1.1 100 Continue")
            conn.sendall(body)
            answer = b""
            while b"ExpectWS" not in answer:
                chunk = conn.recv(65536)
                assert chunk
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert sim.stats.creates["ExpectWS"] == 1


def test_reference_example_program_runs_against_the_simulator(tmp_path: Path) -> None:
    """The reference's own requests script prints the documented lines."""
    source = (Path(__file__).parent / "reference_example.py").read_text()
    sim = Simulator()
    with sim.serve_in_thread() as base_url:
        script = source.replace(
            'CLOUTILITY_API_URL = "http://127.0.0.1:8080/v1/"', f'CLOUTILITY_API_URL = "{base_url}"'
        )
        assert script != source
        path = tmp_path / "example.py"
        path.write_text(script)
        result = subprocess.run(
            [sys.executable, str(path)], capture_output=True, text=True, timeout=30, check=False
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Got access token! Expires in 299 seconds.",
        "API call successful!",
        "API full version is: 1.0.4480.0",
        "Refreshed access token. Expires in 299 seconds.",
    ]
    assert sim.stats.grants == {"password": 1, "refresh_token": 1}


def test_cli_serves_until_sigterm() -> None:
    """`python -m cloutility_async.testing serve --port 0` prints READY and exits 0."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloutility_async.testing",
            "serve",
            "--port",
            "0",
            "--token-lifetime",
            "120",
            "--consumers",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("READY "):
                break
        base_url = lines[-1].split(" ", 1)[1]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/", base_url)
        text = "\n".join(lines)
        assert "demo-password" in text
        assert "https://sim.example" in text
        token = httpx.post(
            base_url + "oauth",
            headers={"Origin": "https://sim.example"},
            data={
                "client_id": "3c1f1e9e-6b1a-4d0e-9f2b-5a7c8d9e0f11",
                "grant_type": "password",
                "username": "demo",
                "password": "demo-password",
            },
        ).json()
        assert token["expires_in"] == 120
        version = httpx.get(
            base_url + "fullVersion",
            headers={
                "Authorization": f"Bearer {token['access_token']}",
                "Origin": "https://sim.example",
            },
        )
        assert version.json() == FULL_VERSION
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()
    assert returncode == 0


# -- pytest plugin -------------------------------------------------------------------------


def test_plugin_simulator_fixture(cloutility_simulator: Simulator) -> None:
    """The plugin's cloutility_simulator is a fresh default simulator."""
    assert cloutility_simulator.stats.requests_total == 0
    assert 408 in cloutility_simulator.world.consumers


def test_plugin_server_fixture(cloutility_server: Any) -> None:
    """cloutility_server serves the simulator on loopback."""
    sim = cloutility_server.simulator
    response = httpx.get(cloutility_server.base_url + "fullVersion", headers=auth_headers(sim))
    assert response.json() == FULL_VERSION
    assert sim.stats.requests["GET /fullVersion"] == 1


# -- billing subscribers -------------------------------------------------------------------


class Receiver:
    """A raw HTTP/1.1 subscriber on 127.0.0.1 that records every byte it gets.

    ``mode``: ``continue`` (100 Continue, read the body, 200), ``reject`` (401 at once),
    ``silent`` (no interim answer; read the body; 103 then a chunked 200), ``close``
    (close the connection at once).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.heads: list[bytes] = []
        self.after_head: list[bytes] = []
        self.connections = 0
        self._handled = anyio.Event()

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            self.connections += 1
            if self.mode == "close":
                self.after_head.append(b"")
                return
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                buffer += await stream.receive()
            head, rest = buffer.split(b"\r\n\r\n", 1)
            self.heads.append(head)
            match = re.search(rb"Content-Length: (\d+)", head)
            assert match is not None
            length = int(match[1])
            if self.mode == "reject":
                await stream.send(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n"
                    b"Connection: close\r\n\r\nnope"
                )
            else:
                if self.mode == "continue":
                    await stream.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                while len(rest) < length:
                    rest += await stream.receive()
                if self.mode == "continue":
                    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                else:
                    await stream.send(
                        b"HTTP/1.1 103 Early Hints\r\n\r\n"
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"4\r\nfine\r\n3;x=y\r\n!!!\r\n0\r\n\r\n"
                    )
            # Everything else the client sends, until it closes the connection.
            try:
                while True:
                    rest += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
            self._done(rest)

    def _done(self, after_head: bytes) -> None:
        self.after_head.append(after_head)
        self._handled.set()
        self._handled = anyio.Event()

    async def settled(self, count: int) -> None:
        """Wait until ``count`` connections were handled to their end."""
        with anyio.fail_after(5):
            while len(self.after_head) < count:
                await self._handled.wait()


@asynccontextmanager
async def receiving(mode: str) -> AsyncIterator[tuple[Receiver, int]]:
    receiver = Receiver(mode)
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, receiver.handle)
            yield receiver, port
            tg.cancel_scope.cancel()


async def test_billing_subscriber_sends_the_portal_request() -> None:
    """The Test request: the reference's head, 100 Continue, then the compact JSON body."""
    sim = Simulator(consumers=2)
    async with receiving("continue") as (receiver, port):
        result = await sim.test_billing_subscriber(f"http://127.0.0.1:{port}/baas-report/?code=xyz")
        await receiver.settled(1)
    body = b'{"trigger":"test for new billing data available"}'
    assert receiver.heads == [
        b"POST /baas-report/?code=xyz HTTP/1.1\r\n"
        b"Content-Type: application/json; charset=utf-8\r\n"
        + f"Host: 127.0.0.1:{port}\r\n".encode()
        + b"Content-Length: 49\r\n"
        b"Expect: 100-continue\r\n"
        b"Connection: close"
    ]
    assert receiver.after_head == [body]
    assert result == SubscriberTestResult(200, continued=True, sent_body=True, body=b"ok")
    assert sim.stats.billing_notifications == {200: 1}
    assert sim.stats.snapshot()["billing_notifications"] == {"200": 1}


async def test_billing_subscriber_sends_no_body_after_an_early_401() -> None:
    """A final answer to the head (401) means the body is never sent."""
    sim = Simulator(consumers=2)
    async with receiving("reject") as (receiver, port):
        result = await sim.test_billing_subscriber(f"http://127.0.0.1:{port}/hook?code=guess")
        await receiver.settled(1)
    assert result == SubscriberTestResult(401, continued=False, sent_body=False, body=b"nope")
    assert receiver.after_head == [b""]
    assert sim.stats.billing_notifications == {401: 1}


async def test_billing_subscriber_sends_the_body_after_the_wait() -> None:
    """No interim answer within expect_timeout: the body goes anyway; chunked answers decode."""
    sim = Simulator(consumers=2)
    async with receiving("silent") as (receiver, port):
        result = await sim.test_billing_subscriber(
            f"http://localhost:{port}/h%C3%A4/?code=a%2Bb", "custom ✓", expect_timeout=0.05
        )
        await receiver.settled(1)
    assert receiver.heads[0].startswith(b"POST /h%C3%A4/?code=a%2Bb HTTP/1.1\r\n")
    assert f"Host: localhost:{port}\r\n".encode() in receiver.heads[0]
    assert json.loads(receiver.after_head[0]) == {"trigger": "custom ✓"}
    assert result == SubscriberTestResult(200, continued=False, sent_body=True, body=b"fine!!!")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "ftp://127.0.0.1/hook",
        "127.0.0.1:8080/hook",
        "http://example.com/hook",
        "http://10.0.0.1/hook",
        "http://128.0.0.1/hook",
        "http://[::2]/hook",
        "http://localhost.example/hook",
        "http:///hook",
        "http://127.0.0.1:notaport/hook",
        "http://127.0.0.1/a b",
    ],
)
async def test_billing_subscriber_refuses_urls_off_loopback(url: str) -> None:
    """Only http:// on 127.0.0.0/8, localhost or ::1; nothing is sent or counted otherwise."""
    sim = Simulator(consumers=2)
    refused = "http://|loopback|[Pp]ort|whitespace"
    with pytest.raises(ValueError, match=refused):
        await sim.test_billing_subscriber(url)
    with pytest.raises(ValueError, match=refused):
        sim.add_billing_subscriber(sim.world.root_id, url)
    assert sim.billing_subscribers == {}
    assert sim.stats.billing_notifications == {}


def test_add_billing_subscriber_checks_the_business_unit() -> None:
    """Subscribers get increasing ids; an unknown business unit is refused."""
    sim = Simulator(consumers=2)
    root = sim.world.root_id
    first = sim.add_billing_subscriber(root, "http://127.0.0.1:9/a")
    second = sim.add_billing_subscriber(root, "http://[::1]:9/b")
    assert second > first
    assert sim.billing_subscribers[first] == BillingSubscriber(first, root, "http://127.0.0.1:9/a")
    sim.remove_billing_subscriber(first)
    assert list(sim.billing_subscribers) == [second]
    with pytest.raises(ValueError, match="unknown business unit"):
        sim.add_billing_subscriber(987654, "http://127.0.0.1:9/a")


async def test_notify_billing_subscribers_posts_to_each_subscriber_of_the_unit() -> None:
    """Each subscriber of the unit gets one POST, in order; a dead one does not stop the rest."""
    sim = Simulator(consumers=12)
    root = sim.world.root_id
    other = next(b for b in sim.world.bunits if b != root)
    async with (
        receiving("continue") as (good, good_port),
        receiving("close") as (dead, dead_port),
        receiving("continue") as (elsewhere, elsewhere_port),
    ):
        sim.add_billing_subscriber(root, f"http://127.0.0.1:{dead_port}/dead")
        sim.add_billing_subscriber(other, f"http://127.0.0.1:{elsewhere_port}/other")
        sim.add_billing_subscriber(root, f"http://127.0.0.1:{good_port}/good?code=1")
        results = await sim.notify_billing_subscribers(root)
        await good.settled(1)
    assert [r.status for r in results] == [0, 200]
    assert results[0].error
    assert not results[0].sent_body
    assert good.after_head == [b'{"trigger":"new billing data available"}']
    assert dead.connections == 1
    assert elsewhere.connections == 0
    assert sim.stats.billing_notifications == {0: 1, 200: 1}
    # The listeners are closed now: the connection is refused.
    [refused] = await sim.notify_billing_subscribers(other, expect_timeout=0)
    assert refused.status == 0
    assert refused.error
    assert sim.stats.billing_notifications == {0: 2, 200: 1}
    lonely = next(b for b in sim.world.bunits if b not in (root, other))
    assert await sim.notify_billing_subscribers(lonely) == []
    with pytest.raises(ValueError, match="unknown business unit"):
        await sim.notify_billing_subscribers(987654)
