"""One renewal through a token store: lock, re-read, grant only if needed, compare-and-set.

Whoever holds the store's grant lock re-reads the store first: a token another
client saved meanwhile is used without a grant. Otherwise it grants (a refresh
with the stored session's refresh token when there is one) and saves with
compare-and-set, so it never overwrites a token it has not seen. A store that
fails (down, slow, unreadable) never fails the renewal: the client logs
``cloutility.token_store_unavailable`` and grants a token of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import anyio
import attrs

from .._exceptions import CloutilityError, ConfigurationError
from .._records import log_event
from .._token import Token
from ._base import TokenStore

__all__ = ["Renewal", "renew_through"]

logger = logging.getLogger("cloutility_async.auth")

Grant = Callable[[Token | None], Awaitable[Token]]


@attrs.frozen
class Renewal:
    """The token a renewal produced and how: adopted from the store, or granted."""

    token: Token
    from_store: bool = False
    store_failed: bool = False


@attrs.frozen
class Owner:
    """Whose tokens a client may take from a store (never the password)."""

    client_id: str
    username: str

    def stamp(self, token: Token) -> Token:
        if (token.client_id, token.username) == (self.client_id, self.username):
            return token
        return attrs.evolve(token, client_id=self.client_id, username=self.username)

    def owns(self, token: Token) -> bool:
        """False for a token of another login; a token that names nobody is taken as ours."""
        return (token.client_id in (None, self.client_id)) and (
            token.username in (None, self.username)
        )


async def renew_through(
    store: TokenStore,
    *,
    owner: Owner,
    stale: Token | None,
    refused: bool,
    good_enough: Callable[[Token], bool],
    grant: Grant,
    store_timeout: float,
) -> Renewal:
    """A token to replace ``stale`` (None: there is none yet), shared through ``store``.

    ``refused``: the server answered 401 to ``stale``, so only another token will do.
    ``good_enough`` says whether a stored token may be used as it is (valid, or not yet
    due for a proactive refresh). ``grant`` makes a grant from the token it is given
    (its refresh token) or from nothing (the password). ``store_timeout`` bounds each store
    step: waiting for the lock and reading, and saving.
    """
    stack = AsyncExitStack()
    try:
        with anyio.fail_after(store_timeout):
            await _enter_lock(stack, store)
            stored = await store.load()
    except Exception as exc:
        await stack.aclose()
        if isinstance(exc, ConfigurationError):
            raise  # a store that cannot work here at all (e.g. Redis on trio): show it
        _unavailable(store, exc)
        return Renewal(owner.stamp(await grant(stale)), store_failed=True)
    except BaseException:
        await stack.aclose()  # cancelled: the release does not wait (see the stores)
        raise
    async with stack:  # the lock is released however the grant ends
        if stored is not None and not owner.owns(stored):
            log_event(
                logger,
                logging.WARNING,
                _UNAVAILABLE,
                "%(store)s holds a token of another login (client ID %(stored_client_id)r,"
                " user %(stored_username)r); using this process's own token",
                store=repr(store),
                stored_client_id=stored.client_id,
                stored_username=stored.username,
            )
            return Renewal(owner.stamp(await grant(stale)), store_failed=True)
        if stored is not None and _acceptable(stored, stale, refused, good_enough):
            return Renewal(stored, from_store=True)
        # The stored session's refresh token first: then every client refreshes one session.
        basis = stored if stored is not None and stored.refresh_token else stale
        token = owner.stamp(await grant(basis))
        try:
            with anyio.fail_after(store_timeout):
                await store.save(token, replaces=stored)
        except Exception as exc:
            _unavailable(store, exc)
            return Renewal(token, store_failed=True)
        return Renewal(token)


async def _enter_lock(stack: AsyncExitStack, store: TokenStore) -> None:
    """Take the grant lock; releasing it later never raises (a failure is logged)."""
    lock = store.grant_lock()
    await lock.__aenter__()

    async def release(*exc_info: object) -> bool:
        try:
            await lock.__aexit__(None, None, None)
        except Exception as exc:
            log_event(
                logger,
                logging.WARNING,
                "cloutility.token_lock_release_failed",
                "%(store)s (%(error_type)s)",
                store=repr(store),
                error_type=type(exc).__name__,
            )
        return False

    stack.push_async_exit(release)


def _acceptable(
    stored: Token, stale: Token | None, refused: bool, good_enough: Callable[[Token], bool]
) -> bool:
    if refused and stale is not None and stored.access_token == stale.access_token:
        return False  # still the token the server refused: it must be replaced
    return good_enough(stored)


_UNAVAILABLE = "cloutility.token_store_unavailable"


def _unavailable(store: TokenStore, exc: Exception) -> None:
    if isinstance(exc, TimeoutError):
        why = "it did not answer in time"
    elif isinstance(exc, CloutilityError):
        why = str(exc)
    else:
        why = type(exc).__name__
    log_event(
        logger,
        logging.WARNING,
        _UNAVAILABLE,
        "%(store)s failed (%(reason)s); using this process's own token",
        store=repr(store),
        reason=why,
    )
