"""Schema drift through the client: tolerant by default, strict on request, logged and counted."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import attrs
import httpx
import pytest

from cloutility_async import Cloutility, ConfigurationError, DecodeError
from cloutility_async.testing import Simulator
from tests.fakeportal import BASE_URL, FakePortal

pytestmark = pytest.mark.anyio

CONSUMER: dict[str, Any] = {
    "href": f"{BASE_URL}bunits/22/consumers/408",
    "id": 408,
    "name": "JennysWS",
    "note": "workstation",
    "dataSourceState": "Active",  # a bare name where a lookup is modelled: accepted
    "limitHighStorage": {"value": 100},  # an object where a number is modelled: drift
    "tags": [{"id": 1, "text": "a"}, "red"],  # one item is not an object: drift
    "systemId": "kept-as-extra",
}


def consumer_route(portal: FakePortal, body: dict[str, Any] = CONSUMER) -> None:
    portal.route("GET", "bunits/22/consumers/408", json=body)


async def test_a_drifted_body_is_read_with_the_drift_in_unparsed() -> None:
    """By default a value the model cannot read lands in unparsed; the rest is intact."""
    portal = FakePortal()
    consumer_route(portal)
    async with portal.client() as api:
        consumer = await api.bunit(22).consumer(408).get()
        stats = api.statistics()
    assert (consumer.id, consumer.name, consumer.note) == (408, "JennysWS", "workstation")
    assert consumer.data_source_state is not None
    assert consumer.data_source_state.name == "Active"
    assert consumer.limit_high_storage is None
    assert [tag.text for tag in consumer.tags] == ["a"]
    assert consumer.unparsed == {"limitHighStorage": {"value": 100}, "tags[1]": "red"}
    assert consumer.extra == {"systemId": "kept-as-extra"}
    assert stats.schema_drift == 2


async def test_strict_mode_raises_decode_error_naming_model_and_field() -> None:
    """strict=True turns the same drift into a DecodeError with the model and field paths."""
    portal = FakePortal()
    consumer_route(portal)
    async with portal.client(strict=True) as api:
        with pytest.raises(DecodeError) as caught:
            await api.bunit(22).consumer(408).get()
    message = str(caught.value)
    assert "Consumer" in message
    assert "$.limit_high_storage" in message
    assert "$.tags[1]" in message
    assert "GET" in message
    assert "bunits/22/consumers/408" in message


async def test_strict_must_be_a_bool() -> None:
    """A strict that is not a bool is refused before any request."""
    with pytest.raises(ConfigurationError, match="strict"):
        FakePortal().client(strict="yes")


async def test_drift_is_logged_once_per_model_and_field_per_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each drifted (model, field) is one WARNING per client, without the value; all are counted."""
    portal = FakePortal()
    consumer_route(portal)
    with caplog.at_level(logging.WARNING, logger="cloutility_async"):
        for _ in range(2):
            async with portal.client() as api:
                for _ in range(3):
                    await api.bunit(22).consumer(408).get()
                assert api.statistics().schema_drift == 6
    drift = [r for r in caplog.records if r.getMessage().startswith("cloutility.schema_drift")]
    assert [(r.levelno, r.drift.model, r.drift.field) for r in drift] == [  # type: ignore[attr-defined]
        (logging.WARNING, "Consumer", "limit_high_storage"),
        (logging.WARNING, "Consumer", "tags"),
    ] * 2
    assert "object" in drift[0].getMessage()
    assert not any("100" in r.getMessage() or "red" in r.getMessage() for r in drift)


async def test_a_list_call_returns_every_item_it_can_read() -> None:
    """An item that is not an object is left out of list() and kept in page().unparsed."""
    portal = FakePortal()
    body = {"href": f"{BASE_URL}bunits/22/consumers", "total": 3, "items": [CONSUMER, 7, {"id": 9}]}
    portal.route("GET", "bunits/22/consumers", json=body)
    async with portal.client() as api:
        consumers = await api.bunit(22).consumers()
        page = await api.ref(f"{BASE_URL}bunits/22/consumers").page()
        stats = api.statistics()
    assert [c.id for c in consumers] == [408, 9]
    assert page.unparsed == {"items[1]": 7}
    assert [c.id for c in page.items] == [408, 9]
    assert stats.schema_drift == 6  # two drifted fields of CONSUMER and the bare 7, twice


async def test_a_put_after_a_drifted_read_sends_every_key_back_as_received() -> None:
    """update() of a drifted consumer sends the server's JSON with only the changed key."""
    portal = FakePortal()
    consumer_route(portal)
    sent: list[Any] = []

    async def on_put(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=sent[-1])

    portal.route("PUT", "bunits/22/consumers/408", handler=on_put)
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)
        updated = await ref.update(attrs.evolve(await ref.get(), note="changed"))
    assert sent == [{**CONSUMER, "note": "changed"}]
    assert updated.note == "changed"
    assert updated.unparsed == {"limitHighStorage": {"value": 100}, "tags[1]": "red"}


# .NET's MinValue (an unset date) in the server's zone, and its MaxValue in a western one.
EDGE_DATES = {
    "createdDate": "0001-01-01T00:00:00+02:00",
    "latestRestorePoint": "0001-01-01T00:00:00",
    "billingEndDate": "9999-12-31T23:59:59.9999999-05:00",
}


@pytest.mark.parametrize("strict", [False, True], ids=["tolerant", "strict"])
async def test_dates_at_the_ends_of_time_read_in_either_mode(strict: bool) -> None:
    """The .NET default date is None and a date past the range is datetime.max UTC; no drift."""
    portal = FakePortal()
    body = {"id": 408, "name": "JennysWS", **EDGE_DATES}
    portal.route("GET", "bunits/22/consumers/408", json=body)
    sent: list[Any] = []

    async def on_put(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=sent[-1])

    portal.route("PUT", "bunits/22/consumers/408", handler=on_put)
    async with portal.client(strict=strict) as api:
        ref = api.bunit(22).consumer(408)
        consumer = await ref.get()
        await ref.update(attrs.evolve(consumer, note="changed"))
        stats = api.statistics()
    assert consumer.created_date is None
    assert consumer.latest_restore_point is None
    assert consumer.billing_end_date == dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    assert (consumer.unparsed, stats.schema_drift) == ({}, 0)
    assert sent == [{**body, "note": "changed"}]


async def test_the_plugin_client_is_strict(
    cloutility_client: Cloutility, cloutility_simulator: Simulator
) -> None:
    """The cloutility_client fixture fails on drift: an object where a name is modelled raises."""
    world = cloutility_simulator.world
    consumer = next(iter(world.consumers_in_tree(world.root_id)))
    unit = cloutility_client.bunit(consumer.bu_id)
    assert consumer.name in [c.name for c in await unit.consumers()]
    consumer.name = {"drifted": True}  # type: ignore[assignment]
    with pytest.raises(DecodeError, match=r"Consumer.*\$\.items\[\d+\]\.name"):
        await unit.consumers()
