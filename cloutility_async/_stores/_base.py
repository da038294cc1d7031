"""The ``TokenStore`` protocol and what its implementations share.

A store holds at most one token (one store per client ID and user) and a
grant lock. Clients that share a store take the lock, re-read the store, and
make a grant only if the token there will not do; ``save`` is a
compare-and-set, so a client never overwrites a token it has not seen.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import anyio

from .._records import log_event
from .._token import Token

__all__ = ["TokenStore", "decode_token", "poll_until", "replaceable"]

logger = logging.getLogger("cloutility_async.auth")

# Lock polling: the first retry soon (a grant takes ~0.1 s), then at most 5 a second.
_FIRST_POLL = 0.005
_MAX_POLL = 0.2


@runtime_checkable
class TokenStore(Protocol):
    """Where clients sharing one login keep its token, and the lock for renewing it.

    Implementations must be safe to share between clients (and, for the file
    and Redis stores, between processes and hosts), must never store the
    password (they are only given tokens) and must keep tokens out of their
    repr and logs.
    """

    async def load(self) -> Token | None:
        """The stored token, or None if there is none (or it cannot be read as one)."""
        ...

    async def save(self, token: Token, *, replaces: Token | None) -> bool:
        """Store ``token`` unless the store holds a token other than ``replaces``.

        ``replaces`` is the token the caller last loaded (None: it found none).
        Compared by access token; an empty store accepts any token. Returns
        whether ``token`` was stored.
        """
        ...

    def grant_lock(self) -> AbstractAsyncContextManager[None]:
        """Held while one client renews the token; waits (without blocking the
        event loop) until it is free. Callers bound the wait themselves."""
        ...


def replaceable(stored: Token | None, replaces: Token | None) -> bool:
    """Whether ``save(..., replaces=replaces)`` may overwrite ``stored``."""
    if stored is None:
        return True
    return replaces is not None and stored.access_token == replaces.access_token


def decode_token(raw: str | bytes | None, where: str) -> Token | None:
    """A stored token, or None for nothing or something unreadable (logged, never quoted)."""
    if raw is None:
        return None
    try:
        return Token.from_json(raw)
    except ValueError as exc:
        log_event(
            logger,
            logging.WARNING,
            "cloutility.token_store_unreadable",
            "%(reason)s in %(where)s; ignoring it",
            reason=str(exc),
            where=where,
        )
        return None


async def poll_until(attempt: Callable[[], Awaitable[bool]]) -> None:
    """Call ``attempt`` until it returns True, sleeping with jittered backoff in between."""
    delay = _FIRST_POLL
    while not await attempt():
        import random

        await anyio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 - jitter, not crypto
        delay = min(delay * 2, _MAX_POLL)
