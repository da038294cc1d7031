"""Error answers and the boundaries of the client ID's tree."""

from __future__ import annotations

import httpx
import pytest

from cloutility_async.testing import Simulator

from ._helpers import (
    ERROR_KEYS,
    open_client,
)

pytestmark = pytest.mark.anyio


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
