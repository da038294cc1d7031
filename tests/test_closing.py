"""Closing under load: every waiting call fails promptly and typed, nothing is sent afterwards.

Over real sockets with the default transports (aiohttp on asyncio, httpx's own on
trio) and over a mock transport that ignores being closed.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Awaitable, Callable

import anyio
import httpx
import pytest

from cloutility_async import ClientStateError, Cloutility
from tests.fakeportal import FakePortal
from tests.rawserver import STALL, Action, RawServer, Received, Reply, wait_until

pytestmark = pytest.mark.anyio


class Portal:
    """Grants tokens; ``bunits/2`` is always 503 with a long Retry-After; other calls stall."""

    def __init__(self) -> None:
        self.grants = 0

    async def __call__(self, request: Received) -> Action:
        path = request.path.removeprefix("/v1/")
        if path == "oauth":
            self.grants += 1
            return Reply.json(
                {"access_token": f"access-{self.grants}", "expires_in": 299, "refresh_token": "r"}
            )
        if path == "bunits/2":
            return Reply(503, b"", (("Retry-After", "30"),))
        return STALL


def client_for(server: RawServer, **options: object) -> Cloutility:
    settings: dict[str, object] = {
        "client_id": "c",
        "origin": "https://app.example",
        "username": "u",
        "password": "p",
        "base_url": server.base_url,
        "max_concurrency": 2,
        "timeout": 30.0,
    }
    settings.update(options)
    return Cloutility(**settings)  # type: ignore[arg-type]


async def keep_error(call: Callable[[], Awaitable[object]], errors: list[Exception]) -> None:
    """Run ``call``; what it raises goes to ``errors``."""
    try:
        await call()
    except Exception as exc:
        errors.append(exc)


def no_resource_warnings() -> list[str]:
    """Collect garbage and return every ResourceWarning that it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def test_close_under_load_fails_every_call_and_sends_nothing_afterwards() -> None:
    """2 calls in flight, 4 queued for a slot, 1 in backoff: all fail typed, 0 sent after close."""
    errors: list[Exception] = []

    async with RawServer(Portal()) as server:
        api = client_for(server)
        async with api, anyio.create_task_group() as tg:
            # answered 503 and retried after 30 s: in backoff
            tg.start_soon(keep_error, api.bunit(2).get, errors)
            assert await wait_until(lambda: len(server.requests_to("bunits/2")) == 1)
            for bunit in range(10, 16):  # two on the wire, four waiting for a slot
                tg.start_soon(keep_error, api.bunit(bunit).get, errors)
            assert await wait_until(lambda: len(server.received) == 4)  # grant, 503, two stalled
            await anyio.sleep(0.05)  # the queued four are waiting now
            assert api.statistics().in_flight == 2
            with anyio.fail_after(5):
                await api.aclose()
            closed_at = anyio.current_time()
        await anyio.sleep(0.2)  # anything still on its way would arrive now
        late = [r for r in server.received if r.at >= closed_at]
        still_open = await server.wait_all_closed()
    assert late == []
    assert len(errors) == 7
    assert all(isinstance(e, ClientStateError) for e in errors), errors
    assert {e.url for e in errors if isinstance(e, ClientStateError)} == {
        f"{server.base_url}bunits/{b}" for b in (2, 10, 11, 12, 13, 14, 15)
    }
    assert still_open == 0
    assert no_resource_warnings() == []


async def test_aclose_from_another_task_stops_the_client_and_the_block_still_exits() -> None:
    """A watchdog task may close the client; the entering task's async with exits cleanly."""
    async with RawServer(Portal()) as server:
        api = client_for(server)
        closed = anyio.Event()
        errors: list[Exception] = []

        async def watchdog() -> None:
            await api.aclose()
            closed.set()

        async with anyio.create_task_group() as tg, api:
            tg.start_soon(keep_error, api.bunit(10).get, errors)
            assert await wait_until(lambda: len(server.received) == 2)
            tg.start_soon(watchdog)
            with anyio.fail_after(5):
                await closed.wait()
            with pytest.raises(ClientStateError):
                await api.full_version()
        still_open = await server.wait_all_closed()
    assert len(errors) == 1
    assert isinstance(errors[0], ClientStateError)
    assert still_open == 0
    assert no_resource_warnings() == []


async def test_a_call_waiting_for_a_token_fails_promptly_when_the_client_closes() -> None:
    """A call that waits on a slow grant gets ClientStateError as soon as aclose() runs."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.0")
    errors: list[Exception] = []
    api = portal.client()
    async with anyio.create_task_group() as tg, api:
        portal.tokens.clear()  # revoked: the next call must renew
        portal.grant_delay = 60
        tg.start_soon(keep_error, api.full_version, errors)
        assert await wait_until(lambda: len(portal.grant_requests) == 2)
        with anyio.fail_after(5):
            await api.aclose()
    (failure,) = errors
    assert isinstance(failure, ClientStateError)
    assert failure.url == "https://portal.test/v1/fullVersion"


async def test_a_call_inside_a_transport_that_ignores_close_is_stopped() -> None:
    """A mock transport is not aborted by closing it: the call on it is cancelled instead."""
    portal = FakePortal()
    started = anyio.Event()

    async def forever(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep(60)
        raise AssertionError("not reached")

    portal.route("GET", "fullVersion", forever)
    errors: list[Exception] = []
    api = portal.client()
    async with anyio.create_task_group() as tg, api:
        tg.start_soon(keep_error, api.full_version, errors)
        await started.wait()
        with anyio.fail_after(5):
            await api.aclose()
    (failure,) = errors
    assert isinstance(failure, ClientStateError)
    assert "during the request" in str(failure)


async def test_requests_after_close_are_refused_before_anything_is_sent() -> None:
    """Once closed, a call raises ClientStateError and the transport sees nothing."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion", json="1.0")
    api = portal.client()
    async with api:
        pass
    with pytest.raises(ClientStateError):
        await api.full_version()
    assert route.call_count == 0
