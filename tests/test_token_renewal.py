"""One renewal through a store: re-read under the lock, grant only if needed, degrade if down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import pytest

from cloutility_async import ConfigurationError, MemoryTokenStore, Token
from cloutility_async._stores._renewal import Owner, Renewal, renew_through

pytestmark = pytest.mark.anyio

OWNER = Owner(client_id="client-1", username="alice")


def token(
    access: str, expires_in: float = 300.0, *, refresh: str = "ref-Secret", **who: str
) -> Token:
    who = {"client_id": "client-1", "username": "alice", **who}
    return Token(access, refresh, expires_in, **who)  # type: ignore[arg-type]


class Grants:
    """A fake token endpoint: records what each grant was based on."""

    def __init__(self) -> None:
        self.bases: list[str | None] = []
        self.serial = 0

    async def __call__(self, basis: Token | None) -> Token:
        self.bases.append(None if basis is None else basis.access_token)
        self.serial += 1
        return Token(f"acc-Granted-{self.serial}", "ref-Secret", 300.0)


def valid(t: Token) -> bool:
    return t.seconds_left() > 2


def not_due(t: Token) -> bool:
    return t.seconds_left() > 60


async def renew(
    store: object, grants: Grants, stale: Token | None, *, refused: bool = False, **kw: object
) -> Renewal:
    options: dict[str, object] = {"good_enough": valid, "store_timeout": 5.0, **kw}
    return await renew_through(
        store,  # type: ignore[arg-type]
        owner=OWNER,
        stale=stale,
        refused=refused,
        grant=grants,
        **options,  # type: ignore[arg-type]
    )


async def test_an_empty_store_gets_the_granted_token_stamped_with_its_owner() -> None:
    """Nothing stored: the client grants (password: no basis) and saves the token as its own."""
    store, grants = MemoryTokenStore(), Grants()
    result = await renew(store, grants, None)
    assert grants.bases == [None]
    assert not result.from_store
    assert (result.token.client_id, result.token.username) == ("client-1", "alice")
    assert await store.load() == result.token


async def test_a_good_stored_token_is_used_without_a_grant() -> None:
    """Another client saved a valid token: it is adopted, nothing is granted."""
    store, grants = MemoryTokenStore(), Grants()
    fresher = token("acc-Fresher")
    await store.save(fresher, replaces=None)
    result = await renew(store, grants, token("acc-Old", expires_in=1))
    assert result == Renewal(fresher, from_store=True)
    assert grants.bases == []


async def test_a_401_replaces_the_stored_token_only_if_it_is_the_one_refused() -> None:
    """Refused token still stored: grant from it and replace it. Fresher one stored: use it."""
    store, grants = MemoryTokenStore(), Grants()
    refused = token("acc-Refused")
    await store.save(refused, replaces=None)
    first = await renew(store, grants, refused, refused=True)
    assert grants.bases == ["acc-Refused"]  # the refresh is based on the stored session
    assert await store.load() == first.token
    second = await renew(store, grants, refused, refused=True)  # another client, same 401
    assert second == Renewal(first.token, from_store=True)
    assert grants.bases == ["acc-Refused"]


async def test_a_proactive_renewal_grants_when_the_stored_token_is_due() -> None:
    """A stored token that is only valid, not fresh, is refreshed by the proactive renewal."""
    store, grants = MemoryTokenStore(), Grants()
    due = token("acc-Due", expires_in=30)
    await store.save(due, replaces=None)
    result = await renew(store, grants, due, good_enough=not_due)
    assert grants.bases == ["acc-Due"]
    assert await store.load() == result.token


async def test_a_stored_token_of_another_login_is_neither_used_nor_overwritten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store shared by mistake between two users: each keeps its own token, with a warning."""
    store, grants = MemoryTokenStore(), Grants()
    theirs = token("acc-Bob", username="bob")
    await store.save(theirs, replaces=None)
    with caplog.at_level(logging.WARNING):
        result = await renew(store, grants, None)
    assert result.store_failed
    assert result.token.access_token == "acc-Granted-1"
    assert await store.load() == theirs
    assert "cloutility.token_store_unavailable" in caplog.text
    assert "acc-Bob" not in caplog.text


class BrokenStore:
    """A store whose backend is down: every call raises, as redis-py does."""

    def __init__(self, *, lock: bool = True, load: bool = True, save: bool = True) -> None:
        self.fail = {"lock": lock, "load": load, "save": save}
        self.inner = MemoryTokenStore()

    def __repr__(self) -> str:
        return "<BrokenStore>"

    async def load(self) -> Token | None:
        if self.fail["load"]:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        return await self.inner.load()

    async def save(self, token: Token, *, replaces: Token | None) -> bool:
        if self.fail["save"]:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        return await self.inner.save(token, replaces=replaces)

    def grant_lock(self) -> AbstractAsyncContextManager[None]:
        if self.fail["lock"]:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        return self.inner.grant_lock()


@pytest.mark.parametrize(
    "failing", [{"lock": True}, {"lock": False}, {"lock": False, "load": False}]
)
async def test_a_store_that_is_down_degrades_to_a_token_of_our_own(
    failing: dict[str, bool], caplog: pytest.LogCaptureFixture
) -> None:
    """Lock, load or save failing: the renewal still returns a granted token, with a WARNING."""
    store, grants = BrokenStore(**failing), Grants()
    stale = token("acc-Stale", expires_in=1)
    with caplog.at_level(logging.WARNING):
        result = await renew(store, grants, stale)
    assert result.store_failed
    assert result.token.access_token == "acc-Granted-1"
    assert grants.bases == ["acc-Stale"]
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith("cloutility.token_store_unavailable: <BrokenStore>")
    assert "Secret" not in caplog.text
    assert "acc-" not in caplog.text


class HangingStore(MemoryTokenStore):
    """A store that never answers (a network partition)."""

    async def load(self) -> Token | None:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


async def test_a_store_that_does_not_answer_degrades_after_the_store_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hanging store costs store_timeout, then the client grants its own token."""
    grants = Grants()
    with caplog.at_level(logging.WARNING), anyio.fail_after(10):
        result = await renew(HangingStore(), grants, None, store_timeout=0.05)
    assert result.store_failed
    assert grants.bases == [None]
    assert "did not answer in time" in caplog.text


class MisconfiguredStore(MemoryTokenStore):
    async def load(self) -> Token | None:
        raise ConfigurationError("RedisTokenStore needs asyncio")


async def test_a_store_that_cannot_work_here_raises_instead_of_degrading() -> None:
    """A configuration error (Redis on trio) is a bug to show, not an outage to hide."""
    with pytest.raises(ConfigurationError, match="needs asyncio"):
        await renew(MisconfiguredStore(), Grants(), None)


async def test_the_lock_is_released_when_the_grant_fails_or_is_cancelled() -> None:
    """A refused grant or a closing client leaves the grant lock free for the next renewal."""
    store = MemoryTokenStore()

    async def refused(basis: Token | None) -> Token:
        raise RuntimeError("grant refused")

    async def slow(basis: Token | None) -> Token:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    with pytest.raises(RuntimeError, match="grant refused"):
        await renew_through(
            store,
            owner=OWNER,
            stale=None,
            refused=False,
            good_enough=valid,
            grant=refused,
            store_timeout=5,
        )
    with anyio.move_on_after(0.05):
        await renew_through(
            store,
            owner=OWNER,
            stale=None,
            refused=False,
            good_enough=valid,
            grant=slow,
            store_timeout=5,
        )
    with anyio.fail_after(10):
        result = await renew(store, Grants(), None)
    assert result.token.access_token == "acc-Granted-1"


async def test_a_failing_lock_release_does_not_fail_the_renewal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The token is granted and saved; a release that raises is only logged."""

    class BadRelease(MemoryTokenStore):
        @asynccontextmanager
        async def grant_lock(self) -> AsyncIterator[None]:
            yield
            raise ConnectionError("gone")

    store = BadRelease()
    with caplog.at_level(logging.WARNING):
        result = await renew(store, Grants(), None)
    assert await store.load() == result.token
    assert "cloutility.token_lock_release_failed" in caplog.text
