"""statistics(): readable after close, grants counted apart, peak_in_flight within the limiter."""

from __future__ import annotations

from urllib.parse import parse_qs

import anyio
import attrs
import httpx
import pytest

from cloutility_async import ClientStatistics
from tests.fakeportal import FakePortal
from tests.rawserver import wait_until

pytestmark = pytest.mark.anyio


def test_statistics_before_the_first_entry_are_all_zero() -> None:
    """A client not entered yet has done nothing: every counter reads 0 (no error)."""
    api = FakePortal().client()
    zero = api.statistics()
    assert zero == api.with_options(max_retries=0).statistics()
    assert isinstance(zero, ClientStatistics)
    assert set(attrs.asdict(zero).values()) == {0}


async def test_statistics_are_readable_after_close_as_the_session_ended() -> None:
    """Once closed, statistics() is the last session's snapshot; it no longer changes."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.2.3")
    api = portal.client()
    async with api:
        await api.full_version()
        await api.full_version()
        during = api.statistics()
    after = api.statistics()
    assert after == during
    assert (after.requests, after.grants, after.password_grants) == (2, 1, 1)
    assert after.in_flight == 0
    assert api.with_options(max_retries=0).statistics() == after
    async with api:  # a new session counts afresh
        await api.full_version()
        assert api.statistics().requests == 1


async def test_grants_are_counted_apart_from_api_requests() -> None:
    """A 401 replay: two API requests (the 401 and its replay), two grants (login, renewal)."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion")
    route.side_effect = [httpx.Response(401), httpx.Response(200, json="1.2.3")]
    async with portal.client() as api:
        assert await api.full_version() == "1.2.3"
        stats = api.statistics()
    assert (stats.requests, stats.grants, stats.replays_after_401) == (2, 2, 1)
    assert len(portal.grant_requests) == stats.grants


async def test_peak_in_flight_stays_within_max_concurrency_while_a_grant_is_on_the_wire() -> None:
    """Two requests hold both slots while the refresher's grant is in flight: the grant is
    counted in ``grants``, not in ``in_flight``, so peak_in_flight is 2 of 2."""
    portal = FakePortal(lifetime=2.0)
    release, grant_gate = anyio.Event(), anyio.Event()
    held: list[httpx.Request] = []
    refreshes: list[httpx.Request] = []

    async def oauth(request: httpx.Request) -> httpx.Response:
        if parse_qs(request.content.decode()).get("grant_type") == ["refresh_token"]:
            refreshes.append(request)
            await grant_gate.wait()
        return await portal._oauth(request)

    async def slow(request: httpx.Request) -> httpx.Response:
        held.append(request)
        await release.wait()
        return httpx.Response(200, json="1.2.3")

    portal.router.post("oauth").mock(side_effect=oauth)
    portal.route("GET", "fullVersion", slow)
    api = portal.client(max_concurrency=2, refresh_margin=60.0)
    async with api, anyio.create_task_group() as tg:
        tg.start_soon(api.full_version)
        tg.start_soon(api.full_version)
        assert await wait_until(lambda: len(held) == 2 and len(refreshes) == 1, limit=20)
        stats = api.statistics()
        assert (stats.in_flight, stats.grants) == (2, 2)
        assert stats.peak_in_flight == 2  # max_concurrency
        grant_gate.set()
        release.set()
    assert api.statistics().peak_in_flight <= 2
