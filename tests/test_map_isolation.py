"""map(): each item's function runs as if in a task of its own (review2's finding)."""

from __future__ import annotations

import contextvars
from collections.abc import Generator
from typing import Any

import anyio.lowlevel
import pytest

from tests.fakeportal import FakePortal

pytestmark = pytest.mark.anyio

SEEN_BY: contextvars.ContextVar[str] = contextvars.ContextVar("SEEN_BY", default="unset")


async def test_a_context_variable_set_by_one_item_is_not_seen_by_the_next() -> None:
    """What an item's function sets in a ContextVar (structlog's bind_contextvars, an
    OpenTelemetry attach) stays with that item, as with a task per item."""
    portal = FakePortal()

    async def work(item: int) -> str:
        before = SEEN_BY.get()
        SEEN_BY.set(f"item-{item}")
        await anyio.lowlevel.checkpoint()
        return before

    async with portal.client() as api, api.map(work, range(20), concurrency=2) as results:
        seen = [result.unwrap() async for result in results]
    assert seen == ["unset"] * 20


class Doubled:
    """An awaitable that is not a coroutine: what a plain function may return."""

    def __init__(self, item: int) -> None:
        self.item = item

    def __await__(self) -> Generator[Any, None, int]:
        yield from anyio.lowlevel.checkpoint().__await__()
        return self.item * 2


async def test_a_function_returning_another_awaitable_is_awaited_as_before() -> None:
    """fn may return any awaitable (here not a coroutine): each result is what it gives."""
    portal = FakePortal()
    async with portal.client() as api, api.map(Doubled, range(5), concurrency=2) as results:
        values = sorted([result.unwrap() async for result in results])
    assert values == [0, 2, 4, 6, 8]


async def test_an_item_that_sets_a_context_variable_and_fails_is_its_own_err() -> None:
    """An item's error is its Err; the next items start from the map's context all the same."""
    portal = FakePortal()

    async def work(item: int) -> str:
        before = SEEN_BY.get()
        SEEN_BY.set(f"item-{item}")
        await anyio.lowlevel.checkpoint()
        if item % 2:
            raise ValueError(item)
        return before

    async with portal.client() as api, api.map(work, range(10), concurrency=1) as results:
        outcomes = [result async for result in results]
    assert [r.unwrap() for r in outcomes if r.ok] == ["unset"] * 5
    assert [r.item for r in outcomes if not r.ok] == [1, 3, 5, 7, 9]
