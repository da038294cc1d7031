"""An invoice upload's streamed form body (its own module: a subclass of httpx's
stream class, defined when the first upload needs it, not when the SDK is imported)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

__all__ = ["MultipartStream"]


class MultipartStream(httpx.AsyncByteStream):
    """The form body: head, the file's chunks, tail; iterable once."""

    def __init__(self, head: bytes, chunks: AsyncIterator[bytes], tail: bytes) -> None:
        self._head = head
        self._chunks = chunks
        self._tail = tail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        async for chunk in self._chunks:
            if chunk:
                yield chunk
        yield self._tail

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()
