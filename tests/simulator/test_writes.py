"""Writes: creations counted and validated, PUT keeps every field, deletes."""

from __future__ import annotations

import httpx
import pytest

from cloutility_async.testing import Simulator

from ._helpers import (
    BASE,
    ERROR_KEYS,
)

pytestmark = pytest.mark.anyio


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
