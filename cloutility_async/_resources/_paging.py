"""Lazily paged listings: an async iterator that fetches a page only when it needs one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from .._models import Collection

__all__ = ["Pages"]

M = TypeVar("M")


class Pages(AsyncIterator[M], Generic[M]):
    """Every item of a ``limit``/``offset`` listing, fetched page by page as iterated.

    Building one sends nothing (its arguments were checked by whoever built
    it). ``await pages`` gives the same iterator back, for code written when
    the call was a coroutine returning one.
    """

    def __init__(
        self, fetch: Callable[[int, int], Awaitable[Collection[M]]], page_size: int
    ) -> None:
        self._fetch = fetch  # (offset, limit) -> the page
        self._page_size = page_size
        self._items: AsyncIterator[M] | None = None

    def __aiter__(self) -> Pages[M]:
        return self

    async def __anext__(self) -> M:
        if self._items is None:
            self._items = self._walk()
        return await self._items.__anext__()

    def __await__(self) -> Generator[Any, None, Pages[M]]:
        return _ready(self).__await__()

    async def aclose(self) -> None:
        """Stop paging (nothing more is fetched)."""
        items, self._items = self._items, _empty()
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()

    async def _walk(self) -> AsyncIterator[M]:
        offset, size = 0, self._page_size
        while True:
            page = await self._fetch(offset, size)
            for item in page.items:
                yield item
            offset += len(page.items)
            # With a total, page until it is reached (the server may cap `limit`);
            # without one, a short page is the last.
            if not page.items or (
                offset >= page.total if page.total is not None else len(page.items) < size
            ):
                return


async def _ready(value: Pages[M]) -> Pages[M]:
    return value


async def _empty() -> AsyncIterator[Any]:
    return
    yield  # pragma: no cover - makes this an async generator
