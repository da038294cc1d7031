"""The client's limiter: first come first served, and a cancelled wait takes no slot.

On asyncio it is our futures-based ``FutureLimiter``, on trio ``EventLimiter``
(the same with anyio events); every test but one runs on both and pins what they share.
"""

from __future__ import annotations

import asyncio

import anyio
import httpx
import pytest

from cloutility_async._concurrency import EventLimiter, FutureLimiter, Limiter, limiter_for
from tests.fakeportal import FakePortal

pytestmark = pytest.mark.anyio


async def free_slots(limiter: Limiter) -> int:
    """How many tasks can take a slot at once right now (each gives it back afterwards)."""
    taken = 0
    tried = anyio.Event()

    async def take() -> None:
        nonlocal taken
        try:
            limiter.acquire_nowait()
        except anyio.WouldBlock:
            return
        taken += 1
        await tried.wait()
        limiter.release()

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        tried.set()
    return taken


async def hold(limiter: Limiter, name: str, log: list[str], done: anyio.Event) -> None:
    """Wait for a slot, log ``name``, keep the slot until ``done``."""
    await limiter.acquire()
    try:
        log.append(name)
        await done.wait()
    finally:
        limiter.release()


async def test_the_limiter_is_built_on_futures_on_asyncio_and_on_events_on_trio(
    anyio_backend: str,
) -> None:
    """limiter_for picks FutureLimiter under asyncio and EventLimiter under trio."""
    expected = FutureLimiter if anyio_backend == "asyncio" else EventLimiter
    assert isinstance(limiter_for(3), expected)


async def test_free_slots_are_taken_at_once_and_the_next_would_block() -> None:
    """With 3 slots, 3 tasks take one each without waiting and the others are refused."""
    limiter = limiter_for(3)
    assert await free_slots(limiter) == 3
    assert await free_slots(limiter) == 3  # all given back


async def test_waiters_get_slots_in_the_order_they_queued() -> None:
    """A released slot goes to the longest waiter: b, c, d run in the order they asked."""
    limiter = limiter_for(1)
    log: list[str] = []
    done = {name: anyio.Event() for name in "abcd"}
    async with anyio.create_task_group() as tg:
        for name in "abcd":
            tg.start_soon(hold, limiter, name, log, done[name])
            await anyio.wait_all_tasks_blocked()
        assert log == ["a"]
        for name, then in zip("abc", ["a", "ab", "abc"], strict=True):
            assert "".join(log) == then
            done[name].set()
            await anyio.wait_all_tasks_blocked()
        assert log == ["a", "b", "c", "d"]
        done["d"].set()
    assert await free_slots(limiter) == 1


async def test_a_released_slot_is_not_taken_by_a_newcomer_while_others_wait() -> None:
    """release() hands the slot to the first waiter: acquire_nowait right after it blocks."""
    limiter = limiter_for(1)
    limiter.acquire_nowait()
    log: list[str] = []
    done = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(hold, limiter, "waiter", log, done)
        await anyio.wait_all_tasks_blocked()
        limiter.release()
        with pytest.raises(anyio.WouldBlock):
            limiter.acquire_nowait()
        await anyio.wait_all_tasks_blocked()
        assert log == ["waiter"]
        done.set()
    assert await free_slots(limiter) == 1


async def test_a_wait_cancelled_in_line_takes_no_slot_and_keeps_the_line_moving() -> None:
    """Of x (cancelled while it waits) and y, only y gets the slot; one slot remains."""
    limiter = limiter_for(1)
    limiter.acquire_nowait()
    log: list[str] = []
    done = anyio.Event()
    done.set()
    async with anyio.create_task_group() as tg:
        x_scope = anyio.CancelScope()

        async def x() -> None:
            with x_scope:
                await hold(limiter, "x", log, done)

        tg.start_soon(x)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(hold, limiter, "y", log, done)
        await anyio.wait_all_tasks_blocked()
        x_scope.cancel()
        await anyio.wait_all_tasks_blocked()
        assert log == []  # cancelling x freed nothing: the slot is still held here
        limiter.release()
    assert log == ["y"]
    assert await free_slots(limiter) == 1


async def test_a_wait_cancelled_as_its_slot_is_handed_over_leaks_nothing() -> None:
    """x is cancelled in the same step that gives it the slot: y still runs, one slot left."""
    limiter = limiter_for(1)
    limiter.acquire_nowait()
    log: list[str] = []
    never = anyio.Event()
    done = anyio.Event()
    done.set()
    x_scope = anyio.CancelScope()

    async def x() -> None:
        with x_scope:
            await hold(limiter, "x", log, never)

    async with anyio.create_task_group() as tg:
        tg.start_soon(x)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(hold, limiter, "y", log, done)
        await anyio.wait_all_tasks_blocked()
        limiter.release()
        x_scope.cancel()
    assert log[-1:] == ["y"]
    assert await free_slots(limiter) == 1


async def test_a_wait_cancelled_just_before_a_release_takes_nothing() -> None:
    """x's wait is cancelled, then a slot is released before x runs again: y gets it."""
    limiter = limiter_for(1)
    limiter.acquire_nowait()
    log: list[str] = []
    done = anyio.Event()
    done.set()
    x_scope = anyio.CancelScope()

    async def x() -> None:
        with x_scope:
            await hold(limiter, "x", log, done)

    async with anyio.create_task_group() as tg:
        tg.start_soon(x)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(hold, limiter, "y", log, done)
        await anyio.wait_all_tasks_blocked()
        x_scope.cancel()
        limiter.release()
    assert x_scope.cancelled_caught
    assert log == ["y"]
    assert await free_slots(limiter) == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_asyncio_cancel_landing_after_the_hand_off_gives_the_slot_back() -> None:
    """Asyncio only by design: task.cancel() on a waiter whose future was already resolved."""
    limiter = FutureLimiter(1)
    limiter.acquire_nowait()
    got: list[str] = []

    async def take(name: str) -> None:
        await limiter.acquire()
        got.append(name)
        limiter.release()

    x = asyncio.ensure_future(take("x"))
    y = asyncio.ensure_future(take("y"))
    await anyio.wait_all_tasks_blocked()
    limiter.release()  # resolves x's future; x has not run yet
    x.cancel()  # lands on x at the await, after the hand-off
    with anyio.fail_after(5):  # a slot kept by x would leave y waiting forever
        with pytest.raises(asyncio.CancelledError):
            await x
        await y
    assert got == ["y"]
    assert await free_slots(limiter) == 1


async def test_requests_queued_for_a_slot_are_sent_in_the_order_they_were_made() -> None:
    """With max_concurrency=1, five requests queued behind a slow one go out in call order."""
    portal = FakePortal()
    order: list[str] = []
    gate = anyio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        order.append(request.url.path.rsplit("/", 1)[-1])
        if len(order) == 1:
            await gate.wait()
        return httpx.Response(200, json={})

    for n in range(6):
        portal.route("GET", f"bunits/{n}", answer)
    async with portal.client(max_concurrency=1) as api:
        sender = api._port.sender()
        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(sender.request_json, "GET", f"bunits/{n}")
                await anyio.wait_all_tasks_blocked()
            assert order == ["0"]
            gate.set()
        assert api.statistics().peak_in_flight == 1
    assert order == ["0", "1", "2", "3", "4", "5"]


async def test_a_request_cancelled_while_queued_leaves_every_slot_to_the_others() -> None:
    """A queued request cancelled by its caller sends nothing; later ones still get 2 slots."""
    portal = FakePortal()
    sent: list[str] = []
    gate = anyio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path.rsplit("/", 1)[-1])
        await gate.wait()
        return httpx.Response(200, json={})

    for n in range(7):
        portal.route("GET", f"bunits/{n}", answer)
    async with portal.client(max_concurrency=2) as api:
        sender = api._port.sender()
        async with anyio.create_task_group() as tg:
            for n in range(3):  # two stall on the wire, the third waits for a slot
                tg.start_soon(sender.request_json, "GET", f"bunits/{n}")
                await anyio.wait_all_tasks_blocked()
            queued = anyio.CancelScope()

            async def cancelled_call() -> None:
                with queued:
                    await sender.request_json("GET", "bunits/9")

            tg.start_soon(cancelled_call)
            await anyio.wait_all_tasks_blocked()
            queued.cancel()
            await anyio.wait_all_tasks_blocked()
            gate.set()
        async with anyio.create_task_group() as tg:
            for n in range(3, 7):
                tg.start_soon(sender.request_json, "GET", f"bunits/{n}")
        assert api.statistics().peak_in_flight == 2
    assert "9" not in sent
    assert sorted(sent) == ["0", "1", "2", "3", "4", "5", "6"]
