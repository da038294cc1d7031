"""The in-process token store: the default, one client's token as before."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .._token import Token
from ._base import poll_until, replaceable

__all__ = ["MemoryTokenStore"]


class MemoryTokenStore:
    """Keeps the token in this process: each client's own unless several are given one.

    Clients sharing one instance (in one process, on any event loop or thread)
    make one grant between them. Its locks are thread locks polled without
    blocking, so it is not tied to the event loop it was first used on.
    """

    def __init__(self) -> None:
        self._token: Token | None = None
        self._grant = threading.Lock()
        self._write = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemoryTokenStore {'holding a token' if self._token else 'empty'}>"

    async def load(self) -> Token | None:
        """The token held in memory, or None."""
        return self._token

    async def save(self, token: Token, *, replaces: Token | None) -> bool:
        """Hold ``token`` unless another than ``replaces`` is held; returns whether it is."""
        with self._write:
            if not replaceable(self._token, replaces):
                return False
            self._token = token
            return True

    @asynccontextmanager
    async def grant_lock(self) -> AsyncIterator[None]:
        """Held while one client of this process renews the token (any thread, any loop)."""

        async def attempt() -> bool:
            return self._grant.acquire(blocking=False)

        await poll_until(attempt)
        try:
            yield
        finally:
            self._grant.release()
