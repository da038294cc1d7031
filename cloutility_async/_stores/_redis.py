"""A token in Redis, shared by every host: redis-py's asyncio client (extra ``redis``).

The grant lock is ``SET <key>:lock <owner> NX PX <lock_ttl>`` with a random
owner token, released by a compare-and-delete script, so a client whose lock
expired (a grant slower than ``lock_ttl``) never deletes another's. Saving is a
compare-and-set script; the token's key expires when the token does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import sniffio

from .._exceptions import ConfigurationError
from .._records import log_event
from .._token import Token
from ._base import decode_token, poll_until

if TYPE_CHECKING:
    import redis.asyncio as redis_asyncio
else:

    class _RedisAsyncio:
        """``redis.asyncio`` for annotations (``redis_asyncio.Redis``), imported when read.

        The extra is optional and slow to import; ``typing.get_type_hints`` still
        resolves a store's hints: to redis-py's class, or ``Any`` without it.
        """

        def __getattr__(self, name: str) -> object:
            if name != "Redis":
                raise AttributeError(name)
            try:
                from redis.asyncio import Redis
            except ImportError:
                from typing import Any as Redis
            return Redis

    redis_asyncio = _RedisAsyncio()

__all__ = ["RedisTokenStore"]

logger = logging.getLogger("cloutility_async.auth")

# KEYS[1] the token; ARGV: the new token's JSON, its TTL in ms, the access token it replaces.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, stored = pcall(cjson.decode, current)
  if ok and type(stored) == 'table' and stored['access_token'] ~= ARGV[3] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS[1] the lock; ARGV[1] the owner token of whoever releases it.
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# How long a release may take when the grant is over (or was cancelled).
_RELEASE_TIMEOUT = 5.0


class RedisTokenStore:
    """Keeps the token in Redis for clients on any number of hosts (asyncio only).

    ``redis`` is a ``redis.asyncio.Redis`` client (``pip install
    'cloutility-async[redis]'``); give it short socket timeouts, since a
    client whose store does not answer falls back to its own token only after
    the store call fails. ``key`` holds the token (use one per client ID and
    user) and ``<key>:lock`` the grant lock, which expires after ``lock_ttl``
    seconds if its holder dies.
    """

    def __init__(
        self, redis: redis_asyncio.Redis, *, key: str = "cloutility:token", lock_ttl: float = 30.0
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigurationError("RedisTokenStore needs a non-empty key")
        if isinstance(lock_ttl, bool) or not isinstance(lock_ttl, (int, float)):
            raise ConfigurationError(f"lock_ttl must be a number, got {lock_ttl!r}")
        if not math.isfinite(lock_ttl) or lock_ttl < 0.001:
            raise ConfigurationError(f"lock_ttl must be at least 0.001 s, got {lock_ttl!r}")
        self.redis = redis
        self.key = key
        self.lock_key = f"{key}:lock"
        self.lock_ttl = float(lock_ttl)
        self._compare_and_set = redis.register_script(_COMPARE_AND_SET)
        self._compare_and_delete = redis.register_script(_COMPARE_AND_DELETE)

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self.key!r}, lock_ttl={self.lock_ttl:g})"

    async def load(self) -> Token | None:
        """The token at ``key``, or None if there is none (or it is not a token)."""
        _require_asyncio()
        raw: Any = await self.redis.get(self.key)
        return decode_token(raw, f"Redis key {self.key!r}")

    async def save(self, token: Token, *, replaces: Token | None) -> bool:
        """Set ``key`` to ``token`` (expiring with it) unless it holds another than
        ``replaces``: one compare-and-set script, so hosts cannot overwrite each other."""
        _require_asyncio()
        ttl_ms = math.floor(token.seconds_left() * 1000)
        if ttl_ms <= 0:
            return False  # already expired: nothing worth sharing
        replaced = "" if replaces is None else replaces.access_token
        stored = await self._compare_and_set(
            keys=[self.key], args=[token.to_json(), ttl_ms, replaced]
        )
        return bool(stored)

    @asynccontextmanager
    async def grant_lock(self) -> AsyncIterator[None]:
        """Hold ``lock_key`` (``SET NX PX``, at most ``lock_ttl`` seconds) while renewing."""
        _require_asyncio()
        import secrets  # with hmac and hashlib's OpenSSL: not at import (4 ms)

        owner = secrets.token_hex(16)
        ttl_ms = max(1, round(self.lock_ttl * 1000))

        async def attempt() -> bool:
            return bool(await self.redis.set(self.lock_key, owner, nx=True, px=ttl_ms))

        try:
            await poll_until(attempt)
            yield
        finally:
            # Also after a failed or cancelled attempt: its SET may have landed unanswered.
            await self._release(owner)

    async def _release(self, owner: str) -> None:
        """Delete the lock if ``owner`` still holds it; on failure it expires by itself."""
        with anyio.move_on_after(_RELEASE_TIMEOUT, shield=True) as scope:
            try:
                await self._compare_and_delete(keys=[self.lock_key], args=[owner])
            except Exception as exc:
                self._release_failed(type(exc).__name__)
        if scope.cancelled_caught:
            self._release_failed("timed out")

    def _release_failed(self, why: str) -> None:
        log_event(
            logger,
            logging.WARNING,
            "cloutility.token_lock_release_failed",
            "%(reason)s; the lock on %(lock_key)r expires in %(lock_ttl)g s",
            reason=why,
            lock_key=self.lock_key,
            lock_ttl=self.lock_ttl,
        )


def _require_asyncio() -> None:
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = "none"
    if library != "asyncio":
        raise ConfigurationError(
            f"RedisTokenStore needs asyncio (redis-py's asyncio client), not {library};"
            " use FileTokenStore or a store of your own"
        )
