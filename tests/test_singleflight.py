"""SingleFlight: a leader sends from its own frame (``lead``/``land``); waiters share it."""

from __future__ import annotations

import inspect

import anyio
import httpx
import pytest

from cloutility_async._singleflight import SingleFlight
from tests.fakeportal import FakePortal

pytestmark = pytest.mark.anyio

CONSUMER = {"href": "https://portal.test/v1/bunits/22/consumers/408", "id": 408, "name": "W"}


def calling_functions() -> list[str]:
    """``module:function`` of each running frame, innermost first (a coroutine in the
    chain of an await is on this stack while the innermost one runs)."""
    names: list[str] = []
    frame = inspect.currentframe()
    while frame is not None:
        names.append(f"{frame.f_globals.get('__name__')}:{frame.f_code.co_name}")
        frame = frame.f_back
    return names


async def test_a_leading_get_holds_no_coroutine_of_the_flight_while_in_flight() -> None:
    """The first GET of a URL sends from the port's own coroutine; a second, concurrent
    one waits in ``SingleFlight.do`` and gets the same answer without a request."""
    portal = FakePortal()
    stacks: list[list[str]] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        stacks.append(calling_functions())
        await anyio.sleep(0.05)
        return httpx.Response(200, json=CONSUMER)

    route = portal.route("GET", "bunits/22/consumers/408", slow)
    names: list[str | None] = []
    async with portal.client() as api:

        async def get() -> None:
            names.append((await api.bunit(22).consumer(408).get()).name)

        async with anyio.create_task_group() as tg:
            tg.start_soon(get)
            tg.start_soon(get)
    assert route.call_count == 1
    assert names == ["W", "W"]
    (stack,) = stacks
    assert "cloutility_async._resources._port:_shared" in stack
    assert not [
        name
        for name in stack
        if name.startswith("cloutility_async._singleflight") or name.endswith("fetch")
    ]


async def test_land_hands_the_leaders_result_to_its_waiters() -> None:
    flights = SingleFlight()
    flight = flights.lead("k")
    assert flight is not None
    assert flights.lead("k") is None  # one leader per key
    got: list[object] = []

    async def wait() -> None:
        got.append(await flights.do("k", _never_called))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        flights.land("k", flight, "answer")
    assert got == ["answer"]
    assert len(flights) == 0
    assert flights.shared == 1


async def test_land_hands_a_copy_of_the_leaders_error_to_each_waiter() -> None:
    flights = SingleFlight()
    flight = flights.lead("k")
    assert flight is not None
    error = ValueError("refused")
    seen: list[BaseException] = []

    async def wait() -> None:
        try:
            await flights.do("k", _never_called)
        except ValueError as exc:
            seen.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        flights.land("k", flight, error=error)
    assert [str(e) for e in seen] == ["refused", "refused"]
    assert all(e is not error for e in seen)
    assert seen[0] is not seen[1]
    assert flights.lead("k") is not None  # a failure is not kept


async def test_a_cancelled_leader_hands_over_to_a_waiter() -> None:
    """A leader cancelled while its call is out: one waiter calls again, as the leader."""
    flights = SingleFlight()
    calls: list[str] = []

    async def again() -> str:
        calls.append("again")
        return "fresh"

    got: list[str] = []

    async def lead(scope: anyio.CancelScope) -> None:
        flight = flights.lead("k")
        assert flight is not None
        with scope:
            try:
                await anyio.sleep_forever()
            except BaseException as exc:
                flights.land("k", flight, error=exc)
                raise

    async def wait() -> None:
        got.append(await flights.do("k", again))

    scope = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lead, scope)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
    assert got == ["fresh"]
    assert calls == ["again"]
    assert len(flights) == 0


async def _never_called() -> str:
    raise AssertionError("a waiter of a flight in the air must not call")


class _Interrupt(BaseException):
    """Like KeyboardInterrupt or SystemExit: not an Exception, raised in one task only."""


async def test_a_leader_interrupted_hands_over_and_its_waiters_never_raise_it() -> None:
    """A BaseException that is not a cancellation ends the leader only: a waiter calls
    again as the new leader, rather than each waiter raising a copy of it."""
    flights = SingleFlight()
    flight = flights.lead("k")
    assert flight is not None
    got: list[str] = []

    async def again() -> str:
        return "fresh"

    async def wait() -> None:
        got.append(await flights.do("k", again))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        flights.land("k", flight, error=_Interrupt())
    assert got == ["fresh", "fresh"]
    assert len(flights) == 0
