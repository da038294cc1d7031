"""Clients sharing a token store: one grant between them, fresher tokens adopted, outages survived.

In-process against the simulator (its grant counters are what the portal would see).
The Redis tests run on asyncio only, by design: redis-py's client is asyncio's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cloutility_async import (
    Cloutility,
    ConfigurationError,
    FileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    Token,
    TokenStore,
)
from cloutility_async.testing import Simulator
from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio


def client(sim: Simulator, store: TokenStore | None, **options: Any) -> Cloutility:
    return Cloutility(**{**sim.client_options(), "token_store": store, **options})


@asynccontextmanager
async def clients(
    sim: Simulator, stores: list[TokenStore], **options: Any
) -> AsyncIterator[list[Cloutility]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(client(sim, store, **options)) for store in stores]


def grants(sim: Simulator) -> dict[str, int]:
    return dict(sim.stats.grants)


async def test_clients_sharing_a_store_log_in_once(tmp_path: Path) -> None:
    """Three clients on one memory store, then two on one token file: one password grant each."""
    sim = Simulator(consumers=2)
    shared = MemoryTokenStore()
    async with clients(sim, [shared, shared, shared]) as apis:
        assert {api.token for api in apis} == {apis[0].token}
        assert [api.statistics().tokens_from_store for api in apis] == [0, 1, 1]
        assert all([await api.full_version() for api in apis])
    assert grants(sim) == {"password": 1, "refresh_token": 0}

    path = tmp_path / "token.json"
    sim = Simulator(consumers=2)
    async with clients(sim, [FileTokenStore(path), FileTokenStore(path)]) as apis:
        assert apis[0].token == apis[1].token
    assert grants(sim) == {"password": 1, "refresh_token": 0}


async def test_shared_refreshes_are_one_per_refresh_interval_not_one_per_client() -> None:
    """Four clients on 1-second tokens refresh every 0.5 s between them, not each."""
    sim = Simulator(consumers=2, token_lifetime=1.0)
    shared = MemoryTokenStore()
    started = anyio.current_time()
    async with clients(sim, [shared] * 4) as apis:
        await anyio.sleep(2.2)
        assert all([await api.full_version() for api in apis])
        elapsed = anyio.current_time() - started
        refreshes = sum(api.statistics().refresh_grants for api in apis)
        adopted = sum(api.statistics().tokens_from_store for api in apis)
    counted = grants(sim)
    assert counted["password"] == 1
    assert counted["refresh_token"] == refreshes
    assert 1 <= refreshes <= elapsed // 0.5 + 1
    assert adopted >= 3 * refreshes  # each refresh was taken up by the three others


async def test_a_401_makes_one_renewal_between_the_clients_that_share_the_token() -> None:
    """The portal revokes the token: both clients see 401s, one renews, the other adopts."""
    sim = Simulator(consumers=2)
    shared = MemoryTokenStore()
    async with clients(sim, [shared, shared]) as apis:
        before = apis[0].token
        sim.revoke_tokens()
        async with anyio.create_task_group() as tg:
            for api in apis * 10:
                tg.start_soon(api.full_version)
        assert apis[0].token == apis[1].token != before
        replays = sum(api.statistics().replays_after_401 for api in apis)
    assert replays >= 2
    assert sum(grants(sim).values()) == 2  # the login and one renewal


async def test_a_fresher_stored_token_is_adopted_after_a_401_without_a_grant() -> None:
    """A client whose token was refused finds the one another client saved and uses it."""
    sim = Simulator(consumers=2)
    shared = MemoryTokenStore()
    async with clients(sim, [shared]) as (api,):
        refused = api.token
        assert refused is not None
        fresh = Token(sim.issue_token(), refused.refresh_token, 299.0)
        assert await shared.save(fresh, replaces=refused)  # another client's renewal
        sim.auth.tokens[refused.access_token].revoked = True
        assert await api.full_version()
        assert api.token == fresh
        stats = api.statistics()
    assert (stats.replays_after_401, stats.tokens_from_store) == (1, 1)
    assert grants(sim) == {"password": 1, "refresh_token": 0}


class DownStore:
    """A token store whose backend is down."""

    def __repr__(self) -> str:
        return "<DownStore>"

    async def load(self) -> Token | None:
        raise ConnectionError("down")

    async def save(self, token: Token, *, replaces: Token | None) -> bool:
        raise ConnectionError("down")

    def grant_lock(self) -> AbstractAsyncContextManager[None]:
        raise ConnectionError("down")


async def test_a_store_that_is_down_degrades_to_per_process_tokens_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Login, refreshes and requests all work without the store; one warning, then it waits."""
    sim = Simulator(consumers=2, token_lifetime=1)
    with caplog.at_level(logging.WARNING, logger="cloutility_async"):
        async with client(sim, DownStore()) as api:
            await anyio.sleep(0.8)
            assert await api.full_version()
            stats = api.statistics()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("cloutility.token_store_unavailable: <DownStore>")
    assert stats.token_store_failures >= 2  # the login and a refresh, both without the store
    assert stats.refresh_grants >= 1
    assert grants(sim)["password"] == 1
    assert sim.password not in caplog.text


def test_a_token_store_option_must_be_a_token_store() -> None:
    """Anything without load/save/grant_lock is refused before any request."""
    sim = Simulator(consumers=2)
    with pytest.raises(ConfigurationError, match="token_store must be a TokenStore"):
        Cloutility(**sim.client_options(), token_store="/tmp/token.json")  # type: ignore[arg-type]


def test_a_token_saved_on_asyncio_means_the_same_to_a_client_on_trio(tmp_path: Path) -> None:
    """Wall-clock expiry: a trio client adopts the asyncio client's token (no new grant)."""
    sim = Simulator(consumers=2)
    path = tmp_path / "token.json"
    seen: list[Token | None] = []

    async def session() -> None:
        async with client(sim, FileTokenStore(path)) as api:
            assert await api.full_version()
            seen.append(api.token)

    anyio.run(session, backend="asyncio")
    anyio.run(session, backend="trio")
    assert seen[0] == seen[1]
    assert grants(sim) == {"password": 1, "refresh_token": 0}


async def test_the_password_is_never_stored(tmp_path: Path) -> None:
    """The token file holds the tokens and whose they are, never the password."""
    sim = Simulator(consumers=2)
    path = tmp_path / "token.json"
    async with client(sim, FileTokenStore(path)):
        pass
    text = path.read_text()
    assert sim.password not in text
    assert sim.username in text


# -- Redis (asyncio only: redis-py's asyncio client) -----------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_clients_sharing_redis_log_in_once_and_the_key_holds_no_password(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """Two clients with their own Redis connections share one login."""
    sim = Simulator(consumers=2)
    connections = [redis.asyncio.Redis(port=redis_server.port) for _ in range(2)]
    try:
        stores: list[TokenStore] = [
            RedisTokenStore(c, key="test:shared-login") for c in connections
        ]
        async with clients(sim, stores) as apis:
            assert apis[0].token == apis[1].token
            raw = await connections[0].get("test:shared-login")
            assert raw is not None
            assert sim.password.encode() not in raw
    finally:
        for c in connections:
            await c.aclose()
    assert grants(sim) == {"password": 1, "refresh_token": 0}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_killed_mid_run_fails_no_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis dies between refreshes: requests go on, renewals warn and use own tokens."""
    server = RedisServer(tmp_path)
    sim = Simulator(consumers=2, token_lifetime=1)
    connection = redis.asyncio.Redis(
        port=server.port, socket_timeout=1, retry=Retry(NoBackoff(), retries=0)
    )
    failed = 0
    try:
        with caplog.at_level(logging.WARNING, logger="cloutility_async"):
            async with client(sim, RedisTokenStore(connection, key="test:killed")) as api:
                for step in range(20):
                    if step == 5:
                        server.kill()
                    try:
                        await api.full_version()
                    except Exception:
                        failed += 1
                    await anyio.sleep(0.05)
                stats = api.statistics()
    finally:
        server.stop()
        await connection.aclose()
    assert failed == 0
    assert stats.token_store_failures >= 1
    assert "cloutility.token_store_unavailable" in caplog.text
