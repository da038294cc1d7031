"""walk_consumers: partial walks, typed unit failures, and the default for a failing unit."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
import mypy.api
import pytest

from cloutility_async import (
    ConsumerEntry,
    PermissionDeniedError,
    ServerError,
    SimpleBusinessUnit,
    UnitError,
    ValidationError,
)
from tests.fakeportal import BASE_URL, FakePortal

TREE = {
    "id": 22,
    "name": "Root",
    "businessUnits": [
        {"id": 5, "parentId": 22, "name": "Broken", "businessUnits": []},
        {"id": 76, "parentId": 22, "name": "Marketing", "businessUnits": []},
        {"id": 94, "parentId": 22, "name": "Down", "businessUnits": []},
    ],
}


def consumers(unit: int, ids: list[int]) -> dict[str, Any]:
    items = [
        {"id": i, "name": f"c{i}", "href": f"{BASE_URL}bunits/{unit}/consumers/{i}"} for i in ids
    ]
    return {"href": f"{BASE_URL}bunits/{unit}/consumers", "total": len(items), "items": items}


def portal_with_two_failing_units() -> FakePortal:
    """Unit 5 is forbidden, unit 94 keeps answering 503; 22 and 76 list fine."""
    portal = FakePortal()
    portal.route("GET", "bunits", json=TREE)
    portal.route("GET", "bunits/22/consumers", json=consumers(22, [1, 2]))
    portal.route("GET", "bunits/76/consumers", json=consumers(76, [3]))
    portal.route("GET", "bunits/5/consumers", status_code=403, json={"message": "denied"})
    portal.route("GET", "bunits/94/consumers", status_code=503, json={"message": "down"})
    return portal


@pytest.mark.anyio
async def test_yielded_unit_errors_carry_the_unit_and_the_error() -> None:
    """unit_errors="yield": every consumer of the good units, plus one UnitError per bad unit."""
    portal = portal_with_two_failing_units()
    async with portal.client(max_retries=1) as api:
        walked = [item async for item in api.walk_consumers(unit_errors="yield")]
    entries = [item for item in walked if isinstance(item, ConsumerEntry)]
    failures = {item.bunit_id: item for item in walked if isinstance(item, UnitError)}
    assert len(walked) == len(entries) + len(failures)
    assert sorted((e.bunit_id, e.id) for e in entries) == [(22, 1), (22, 2), (76, 3)]
    assert set(failures) == {5, 94}
    assert isinstance(failures[5].error, PermissionDeniedError)
    assert isinstance(failures[94].error, ServerError)
    assert failures[94].error.status == 503
    assert failures[5].bunit.name == "Broken"
    assert failures[5].consumer is None


@pytest.mark.anyio
async def test_by_default_the_walk_finishes_the_other_units_then_raises() -> None:
    """The default ("raise"): every good unit's consumers come first, then the unit's error."""
    portal = portal_with_two_failing_units()
    seen: list[tuple[int, int]] = []
    async with portal.client(max_retries=0) as api:

        async def walk_all() -> None:
            async for entry in api.walk_consumers():
                seen.append((entry.bunit_id, entry.id))

        with pytest.raises((PermissionDeniedError, ServerError)) as info:
            await walk_all()
    assert sorted(seen) == [(22, 1), (22, 2), (76, 3)]
    assert info.value.status in (403, 503)


@pytest.mark.anyio
async def test_a_listed_consumer_without_id_or_href_does_not_hide_its_siblings() -> None:
    """A consumer that cannot be followed is a UnitError holding it; the rest of its unit walks."""
    portal = FakePortal()
    portal.route("GET", "bunits", json={"id": 22, "name": "Root", "businessUnits": []})
    body = consumers(22, [1])
    body["items"].append({"name": "ghost"})
    portal.route("GET", "bunits/22/consumers", json=body)
    async with portal.client() as api:
        walked = [item async for item in api.walk_consumers(unit_errors="yield")]
    (entry,) = [item for item in walked if isinstance(item, ConsumerEntry)]
    (failure,) = [item for item in walked if isinstance(item, UnitError)]
    assert entry.id == 1
    assert failure.consumer is not None
    assert failure.consumer.name == "ghost"
    assert "neither id nor href" in str(failure.error)


@pytest.mark.anyio
async def test_a_tree_already_fetched_is_walked_without_fetching_it_again() -> None:
    """walk_consumers(tree) lists the units of that tree and sends no tree request."""
    portal = FakePortal()
    tree_route = portal.route("GET", "bunits", json=TREE)
    portal.route("GET", "bunits/22/consumers", json=consumers(22, [1]))
    portal.route("GET", "bunits/76/consumers", json=consumers(76, [3]))
    async with portal.client() as api:
        tree = SimpleBusinessUnit(id=22, name="Root", business_units=(SimpleBusinessUnit(id=76),))
        found = sorted([(e.bunit_id, e.id) async for e in api.walk_consumers(tree)])
    assert found == [(22, 1), (76, 3)]
    assert tree_route.call_count == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "options",
    [{"unit_errors": "log"}, {"unit_errors": None}, {"concurrency": 0}, {"root": "22/x"}],
)
async def test_bad_walk_arguments_raise_at_the_call_before_any_request(
    options: dict[str, Any],
) -> None:
    """unit_errors, concurrency and root are checked when walk_consumers is called."""
    portal = FakePortal()
    catch_all = portal.router.route(method="GET").mock(return_value=httpx.Response(200))
    async with portal.client() as api:
        with pytest.raises(ValidationError):
            api.walk_consumers(**options)
    assert catch_all.call_count == 0


def test_the_walks_item_type_follows_unit_errors(tmp_path: Path) -> None:
    """mypy --strict sees ConsumerEntry by default and ConsumerEntry | UnitError with "yield"."""
    snippet = tmp_path / "walk_types.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from cloutility_async import Cloutility

            async def audit(api: Cloutility) -> None:
                async for plain in api.walk_consumers():
                    reveal_type(plain)
                async for item in api.walk_consumers(unit_errors="yield"):
                    reveal_type(item)
            """
        )
    )
    out, err, status = mypy.api.run(
        ["--strict", "--cache-dir", str(tmp_path / "cache"), str(snippet)]
    )
    assert status == 0, out + err
    revealed = [
        line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed" in line
    ]
    assert revealed == [
        '"cloutility_async._walk.ConsumerEntry"',
        '"cloutility_async._walk.ConsumerEntry | cloutility_async._walk.UnitError"',
    ]
