"""Backup nodes: activation names, lifecycle, proxies, filespaces, catalogs."""

from __future__ import annotations

import httpx
import pytest

from cloutility_async.testing import Simulator

from ._helpers import (
    BASE,
    ERROR_KEYS,
)

pytestmark = pytest.mark.anyio


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
