"""Cloutility.map: results as they complete, the bound, laziness, failures, cancellation."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import pytest

from cloutility_async import ClientStateError
from tests.fakeportal import FakePortal

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found, unused-ignore]

pytestmark = pytest.mark.anyio


class SourceBroke(Exception):
    """The item source's own error."""


async def test_a_slow_item_does_not_hold_back_the_results_of_the_others() -> None:
    """Item 0 waits until every other result has come out: results flow in completion order."""
    portal = FakePortal()
    others_seen = anyio.Event()

    async def work(item: int) -> int:
        if item == 0:
            await others_seen.wait()
        await anyio.lowlevel.checkpoint()
        return item

    order: list[int] = []
    async with portal.client() as api, api.map(work, range(20), concurrency=3) as results:
        async for result in results:
            order.append(result.unwrap())
            if len(order) == 19:
                others_seen.set()
    assert order[-1] == 0
    assert sorted(order) == list(range(20))


async def test_with_concurrency_one_items_run_one_after_the_other_in_order() -> None:
    """concurrency=1 runs each item alone, in the order the source gives them."""
    portal = FakePortal()
    running = 0
    overlapped = False

    async def work(item: int) -> int:
        nonlocal running, overlapped
        running += 1
        overlapped = overlapped or running > 1
        await anyio.lowlevel.checkpoint()
        running -= 1
        return item

    async with portal.client() as api:
        values = [r.unwrap() async for r in api.map(work, range(30), concurrency=1)]
    assert values == list(range(30))
    assert not overlapped


async def test_an_async_source_is_read_lazily_as_slots_free_up() -> None:
    """A consumer that stops after one result has pulled only a handful of an async source."""
    portal = FakePortal()
    pulled = 0

    async def source() -> AsyncIterator[int]:
        nonlocal pulled
        for i in range(1000):
            pulled += 1
            yield i

    async def work(item: int) -> int:
        await anyio.lowlevel.checkpoint()
        return item

    async with portal.client() as api, api.map(work, source(), concurrency=4) as results:
        async for _ in results:
            for _ in range(20):  # let the workers run as far as they can
                await anyio.lowlevel.checkpoint()
            break
    # 4 running or holding a result, 4 in the buffer, one being handed over, one taken.
    assert pulled <= 12


async def test_an_async_source_runs_at_most_concurrency_items_at_once() -> None:
    """The bound holds for an async iterable too, and every item comes out once."""
    portal = FakePortal()
    running = peak = 0

    async def source() -> AsyncIterator[int]:
        for i in range(50):
            await anyio.lowlevel.checkpoint()
            yield i

    full = anyio.Event()

    async def work(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 5:
            full.set()
        if item < 5:  # the first five wait for each other: five run at once
            await full.wait()
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        running -= 1
        return item

    async with portal.client() as api:
        with anyio.fail_after(10):
            results = api.map(work, source(), concurrency=5)
            values = sorted([r.unwrap() async for r in results])
    assert values == list(range(50))
    assert peak == 5


async def test_a_failing_plain_source_raises_its_error_after_the_results_before_it() -> None:
    """A generator that raises ends the stream with that very error, not a wrapper."""
    portal = FakePortal()

    def source() -> Iterator[int]:
        yield from range(3)
        raise SourceBroke("the list ran dry")

    async def work(item: int) -> int:
        return item

    seen: list[int] = []

    async def drain() -> None:
        async for result in api.map(work, source(), concurrency=2):
            seen.append(result.unwrap())

    async with portal.client() as api:
        with pytest.raises(SourceBroke, match="ran dry"):
            await drain()
        assert [r.unwrap() async for r in api.map(work, [7])] == [7]  # the client goes on
    assert set(seen) <= {0, 1, 2}


async def test_a_failing_async_source_raises_its_error_and_stops_the_running_items() -> None:
    """An async source that raises cancels the items still running and raises its error."""
    portal = FakePortal()
    cancelled: list[int] = []
    started = anyio.Event()

    async def source() -> AsyncIterator[int]:
        yield 1
        await started.wait()
        raise SourceBroke("the feed broke")

    async def work(item: int) -> int:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(item)
            raise
        return item

    async with portal.client() as api:
        with pytest.raises(SourceBroke, match="feed broke"):
            async for _ in api.map(work, source(), concurrency=4):
                pass
    assert cancelled == [1]


async def test_closing_the_stream_cancels_the_items_in_flight_and_closes_an_async_source() -> None:
    """Leaving ``async with`` early cancels what runs and runs the source generator's finally."""
    portal = FakePortal()
    cancelled: list[int] = []
    source_closed = anyio.Event()

    async def source() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            source_closed.set()

    started: list[int] = []
    all_cancelled = anyio.Event()

    async def work(item: int) -> int:
        if item == 0:
            return item
        started.append(item)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(item)
            if len(cancelled) == len(started):
                all_cancelled.set()
            raise
        return item

    async with portal.client() as api:
        async with api.map(work, source(), concurrency=3) as results:
            first = await results.__anext__()
        with anyio.fail_after(5):
            await source_closed.wait()
            await all_cancelled.wait()
    assert first.unwrap() == 0
    assert 2 <= len(started) <= 3  # never more than the three slots
    assert sorted(cancelled) == sorted(started)


async def test_a_consumer_cancelled_inside_async_with_stops_the_work() -> None:
    """A timeout around the loop ends the map's items too (the stream closes on the way out)."""
    portal = FakePortal()
    cancelled: list[int] = []
    running = anyio.Event()
    both_cancelled = anyio.Event()

    async def work(item: int) -> int:
        running.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(item)
            if len(cancelled) == 2:
                both_cancelled.set()
            raise
        return item

    async with portal.client() as api:
        with anyio.CancelScope() as scope:
            async with api.map(work, range(10), concurrency=2) as results:
                await running.wait()
                scope.cancel()
                async for _ in results:
                    pass
        with anyio.fail_after(5):
            await both_cancelled.wait()
    assert sorted(cancelled) == [0, 1]


async def test_an_empty_source_ends_at_once() -> None:
    """No items, no results: the stream simply ends, for a list and for an async source."""
    portal = FakePortal()

    async def nothing() -> AsyncIterator[int]:
        return
        yield  # pragma: no cover - makes this an async generator

    async def work(item: int) -> int:
        return item

    async with portal.client() as api:
        empty: list[int] = []
        assert [r.unwrap() async for r in api.map(work, empty)] == []
        assert [r.unwrap() async for r in api.map(work, nothing())] == []


async def test_an_item_error_is_its_own_result_on_an_async_source_too() -> None:
    """Items of an async source that fail come out as ``Err``; the others as ``Ok``."""
    portal = FakePortal()

    async def source() -> AsyncIterator[int]:
        for i in range(10):
            yield i

    async def work(item: int) -> int:
        await anyio.lowlevel.checkpoint()
        if item % 3 == 0:
            raise ValueError(f"bad {item}")
        return item

    async with portal.client() as api:
        results = [r async for r in api.map(work, source(), concurrency=4)]
    assert sorted(r.item for r in results if not r.ok) == [0, 3, 6, 9]
    assert sorted(r.unwrap() for r in results if r.ok) == [1, 2, 4, 5, 7, 8]


async def test_a_map_started_on_a_closing_client_says_it_did_not_finish() -> None:
    """Items that never ran because the client closed are not passed off as a complete run."""
    portal = FakePortal()

    async def work(item: int) -> int:
        await anyio.sleep_forever()
        return item

    async with portal.client() as api:
        results = api.map(work, iter(range(5)), concurrency=2)
        await anyio.lowlevel.checkpoint()
        await api.aclose()
        with pytest.raises(ClientStateError, match="before every item"):
            await results.__anext__()


@pytest.mark.parametrize("kind", ["list", "generator"])
async def test_every_item_starts_within_a_few_scheduler_passes(kind: str) -> None:
    """64 items at concurrency 64 all run at once soon: not one more worker per loop pass."""
    portal = FakePortal()
    running = 0
    release = anyio.Event()

    async def work(item: int) -> int:
        nonlocal running
        running += 1
        await release.wait()
        return item

    items = list(range(64)) if kind == "list" else (i for i in range(64))
    async with portal.client() as api, api.map(work, items, concurrency=64) as results:
        for _ in range(20):  # a list starts all at once; a generator doubles its workers
            await anyio.lowlevel.checkpoint()
        started = running
        release.set()
        assert len([r.unwrap() async for r in results]) == 64
    assert started == 64


class Stop(BaseException):
    """Not an ``Exception``: no item's result can hold it."""


def flattened(error: BaseException) -> list[BaseException]:
    """The leaves of an exception group (the error itself if it is none)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in flattened(inner)]
    return [error]


async def test_a_base_exception_in_an_item_leaves_the_client_as_a_task_groups_error() -> None:
    """A BaseException is no item's result: it stops the run and comes out of ``async with``."""
    portal = FakePortal()

    async def work(item: int) -> int:
        await anyio.lowlevel.checkpoint()
        if item == 3:
            raise Stop("stop everything")
        return item

    async def run() -> None:
        async with portal.client() as api:
            async for _ in api.map(work, range(10), concurrency=2):
                pass

    with pytest.raises(BaseExceptionGroup) as caught:
        await run()
    assert [type(leaf) for leaf in flattened(caught.value)] == [Stop]


async def test_a_shielded_part_of_an_item_finishes_when_the_map_is_closed() -> None:
    """Closing the stream cancels an item as anyio does: a shield inside it holds."""
    portal = FakePortal()
    in_shield, finish, cleaned = anyio.Event(), anyio.Event(), anyio.Event()
    finished: list[int] = []

    async def work(item: int) -> int:
        try:
            with anyio.CancelScope(shield=True):
                in_shield.set()
                await finish.wait()
                finished.append(item)
            await anyio.sleep_forever()
        finally:
            cleaned.set()
        return item

    async with portal.client() as api:
        results = api.map(work, [1], concurrency=1)
        with anyio.fail_after(5):
            await in_shield.wait()
        await results.aclose()
        await anyio.lowlevel.checkpoint()
        finish.set()
        with anyio.fail_after(5):
            await cleaned.wait()
    assert finished == [1]


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def test_items_see_the_context_variables_of_the_caller_of_map() -> None:
    """A ContextVar set before calling map() is what each item's function reads."""
    portal = FakePortal()

    async def work(item: int) -> str:
        await anyio.lowlevel.checkpoint()
        return f"{VAR.get()}-{item}"

    async with portal.client() as api:
        token = VAR.set("request-42")
        try:
            results = api.map(work, range(3), concurrency=2)
        finally:
            VAR.reset(token)
        values = sorted([r.unwrap() async for r in results])
    assert values == ["request-42-0", "request-42-1", "request-42-2"]


async def test_a_cancelled_consumer_stops_at_the_next_result_even_if_results_wait() -> None:
    """Each step of the loop honours cancellation, also when the next result is ready."""
    portal = FakePortal()

    async def work(item: int) -> int:
        return item  # done at once: results pile up in the buffer

    got = 0
    async with portal.client() as api:
        with anyio.CancelScope() as scope:
            async with api.map(work, range(100), concurrency=10) as results:
                async for _ in results:
                    got += 1
                    scope.cancel()
    assert got == 1
    assert scope.cancelled_caught
