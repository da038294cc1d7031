"""Token stores: load, compare-and-set save and the grant lock, on memory, file and Redis.

The contract tests run on every store; the Redis store runs on asyncio only, by
design (redis-py's client is asyncio's), and a trio test pins its clear refusal.
Redis is a real redis-server on a free loopback port (``tests/redis_server.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import pytest
import redis.asyncio

from cloutility_async import (
    ConfigurationError,
    FileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    Token,
    TokenStore,
)
from tests.conftest import BACKENDS
from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio

UTC = dt.timezone.utc
SECRETS = ("acc-Secret-1", "ref-Secret-1", "acc-Secret-2", "acc-Secret-3")

# (store, backend): the memory and file stores on the backends this run asks for (`nox -s
# tests` runs one per session); Redis always on asyncio, as redis-py's client needs it.
CASES = [(store, backend) for store in ("memory", "file") for backend in BACKENDS]
CASES.append(("redis", "asyncio"))

StoreFactory = Callable[[], AbstractAsyncContextManager[TokenStore]]


def token(access: str = "acc-Secret-1", *, expires_in: float = 300.0) -> Token:
    return Token(
        access_token=access,
        refresh_token="ref-Secret-1",
        expires_in=expires_in,
        client_id="client-1",
        username="alice",
    )


@pytest.fixture(params=CASES, ids=[f"{store}-{backend}" for store, backend in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    return tuple(request.param)  # type: ignore[return-value]


@pytest.fixture
def anyio_backend(case: tuple[str, str]) -> str:
    """This module's backends come with the store (see CASES)."""
    return case[1]


@asynccontextmanager
async def redis_store(
    server: RedisServer, key: str, **options: float
) -> AsyncIterator[RedisTokenStore]:
    client = redis.asyncio.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)
    try:
        yield RedisTokenStore(client, key=key, **options)
    finally:
        await client.aclose()


@pytest.fixture
def stores(case: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """Opens store instances that share one backing: one memory store, one file, one key."""
    kind = case[0]
    shared_memory = MemoryTokenStore()
    key = f"test:{uuid.uuid4().hex}"

    @asynccontextmanager
    async def open_store() -> AsyncIterator[TokenStore]:
        if kind == "memory":
            yield shared_memory
        elif kind == "file":
            yield FileTokenStore(tmp_path / "tokens" / "token.json")
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            async with redis_store(server, key) as store:
                yield store

    return open_store


async def test_an_empty_store_loads_none(stores: StoreFactory) -> None:
    """A store nobody has saved to holds no token."""
    async with stores() as store:
        assert isinstance(store, TokenStore)
        assert await store.load() is None


async def test_a_saved_token_loads_equal_from_another_instance(stores: StoreFactory) -> None:
    """What one client saves, another loads: secrets, owner and wall-clock expiry intact."""
    saved = token()
    async with stores() as first:
        assert await first.save(saved, replaces=None)
    async with stores() as second:
        loaded = await second.load()
    assert loaded == saved
    assert loaded is not None
    assert loaded.expires_at == saved.expires_at
    assert loaded.expires_at.tzinfo is UTC
    assert (loaded.client_id, loaded.username) == ("client-1", "alice")


async def test_save_never_overwrites_a_token_the_caller_has_not_seen(
    stores: StoreFactory,
) -> None:
    """save is a compare-and-set on the access token it replaces."""
    one, two, three = token("acc-Secret-1"), token("acc-Secret-2"), token("acc-Secret-3")
    async with stores() as store:
        assert await store.save(one, replaces=None)
        assert not await store.save(two, replaces=None)  # it did not see `one`
        assert await store.save(two, replaces=one)
        assert not await store.save(three, replaces=one)  # `one` is no longer there
        assert await store.load() == two


async def test_the_grant_lock_excludes_a_second_holder_until_released(
    stores: StoreFactory,
) -> None:
    """While one client holds the grant lock another waits, then gets it; saving inside works."""
    order: list[str] = []
    first_holds = anyio.Event()
    release_first = anyio.Event()

    async def first() -> None:
        async with stores() as store, store.grant_lock():
            order.append("first in")
            first_holds.set()
            await release_first.wait()
            assert await store.save(token(), replaces=None)  # no deadlock on its own lock
            order.append("first out")

    async def second() -> None:
        await first_holds.wait()
        async with stores() as store, store.grant_lock():
            order.append("second in")
            loaded = await store.load()
            assert loaded is not None
            assert loaded.access_token == "acc-Secret-1"

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            tg.start_soon(second)
            await first_holds.wait()
            await anyio.sleep(0.3)  # the second has been polling all along
            assert order == ["first in"]
            release_first.set()
    assert order == ["first in", "first out", "second in"]


async def test_a_cancelled_lock_wait_leaves_the_lock_usable(stores: StoreFactory) -> None:
    """A client that stops waiting for the lock does not keep or break it."""
    async with stores() as holder:
        async with holder.grant_lock(), stores() as waiter:
            with anyio.move_on_after(0.1) as scope:
                async with waiter.grant_lock():
                    pytest.fail("the lock was held by another client")
            assert scope.cancelled_caught
        with anyio.fail_after(20):
            async with stores() as later, later.grant_lock():
                pass


async def test_no_token_in_a_store_repr_or_its_logs(
    stores: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Saving, loading and locking log nothing secret; the repr names only where."""
    caplog.set_level(logging.DEBUG)
    async with stores() as store:
        async with store.grant_lock():
            await store.save(token(), replaces=None)
            await store.save(token("acc-Secret-2"), replaces=token())
        await store.load()
        text = repr(store) + str(store) + caplog.text
    assert not any(secret in text for secret in SECRETS)


# -- the file store ----------------------------------------------------------------


FILE_CASES = [c for c in CASES if c[0] == "file"]


@pytest.mark.parametrize("case", FILE_CASES, ids=[b for _, b in FILE_CASES], indirect=True)
async def test_the_token_file_and_its_lock_are_private_to_the_user(tmp_path: Path) -> None:
    """Token and lock file are mode 0600, a created directory 0700, no temporary left."""
    path = tmp_path / "new-dir" / "token.json"
    store = FileTokenStore(path)
    async with store.grant_lock():
        assert await store.save(token(), replaces=None)
    assert await store.save(token("acc-Secret-2"), replaces=token())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.lock_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["token.json", "token.json.lock"]


@pytest.mark.parametrize("case", FILE_CASES, ids=[b for _, b in FILE_CASES], indirect=True)
async def test_a_world_readable_token_file_becomes_private_on_save(tmp_path: Path) -> None:
    """A token file someone created with mode 0644 is replaced by a 0600 one."""
    path = tmp_path / "token.json"
    path.write_text(token().to_json())
    path.chmod(0o644)
    store = FileTokenStore(path)
    assert await store.save(token("acc-Secret-2"), replaces=token())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("case", FILE_CASES, ids=[b for _, b in FILE_CASES], indirect=True)
async def test_an_unreadable_token_file_loads_none_and_is_overwritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt file is ignored with a warning that does not quote it; the next save fixes it."""
    path = tmp_path / "token.json"
    path.write_text('{"access_token": "acc-Secret-1", "expires_at": "soon"')
    store = FileTokenStore(path)
    with caplog.at_level(logging.WARNING):
        assert await store.load() is None
        saved = token()
        assert await store.save(saved, replaces=None)
    assert "cloutility.token_store_unreadable" in caplog.text
    assert "acc-Secret-1" not in caplog.text
    assert await store.load() == saved


LOCK_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("case", FILE_CASES, ids=[b for _, b in FILE_CASES], indirect=True)
async def test_the_file_lock_is_held_across_processes_and_freed_by_a_dying_holder(
    tmp_path: Path,
) -> None:
    """Another process's lock makes us wait; when that process dies, we get the lock."""
    store = FileTokenStore(tmp_path / "token.json")
    command = [sys.executable, "-c", LOCK_HOLDER, str(store.lock_path)]
    async with await anyio.open_process(command, stderr=None) as holder:
        assert holder.stdout is not None
        with anyio.fail_after(60):
            assert (await holder.stdout.receive()).startswith(b"locked")
        with anyio.move_on_after(0.3) as scope:
            async with store.grant_lock():
                pytest.fail("got a lock another process holds")
        assert scope.cancelled_caught
        holder.kill()
        await holder.wait()
        with anyio.fail_after(20):
            async with store.grant_lock():
                pass


def test_the_file_store_needs_a_file_name() -> None:
    """A path without a file name is refused when the store is made."""
    with pytest.raises(ConfigurationError, match="needs a file path"):
        FileTokenStore("/")


# -- the Redis store ---------------------------------------------------------------

REDIS_CASES = [c for c in CASES if c[0] == "redis"]
redis_only = pytest.mark.parametrize("case", REDIS_CASES, ids=["asyncio"], indirect=True)


@redis_only
async def test_the_redis_key_expires_with_the_token(redis_server: RedisServer) -> None:  # noqa: F811
    """The token's key has a TTL of the token's remaining lifetime."""
    key = f"test:{uuid.uuid4().hex}"
    async with redis_store(redis_server, key) as store:
        saved = token(expires_in=120)
        left_ms = saved.seconds_left() * 1000
        assert await store.save(saved, replaces=None)
        ttl_ms = await store.redis.pttl(key)
        assert 100_000 < ttl_ms <= left_ms + 1
        assert not await store.save(token("acc-Secret-2", expires_in=-1), replaces=saved)
        assert await store.load() == saved


@redis_only
async def test_the_redis_lock_expires_if_its_holder_never_releases_it(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """SET NX PX: the lock carries its TTL, so a dead holder blocks others only that long."""
    key = f"test:{uuid.uuid4().hex}"
    async with (
        redis_store(redis_server, key, lock_ttl=0.2) as first,
        redis_store(redis_server, key, lock_ttl=30) as second,
        first.grant_lock(),
    ):
        assert 0 < await first.redis.pttl(first.lock_key) <= 200
        with anyio.fail_after(20):
            async with second.grant_lock():  # the first's lock expires meanwhile
                assert await second.redis.pttl(second.lock_key) > 200


@redis_only
async def test_a_stale_owner_leaving_does_not_delete_the_current_lock(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """A holder whose lock expired releases nothing when it leaves: the new owner keeps it."""
    key = f"test:{uuid.uuid4().hex}"
    async with (
        redis_store(redis_server, key, lock_ttl=0.2) as first,
        redis_store(redis_server, key, lock_ttl=30) as second,
    ):
        got_it = anyio.Event()
        first_left = anyio.Event()

        async def take_over() -> None:
            async with second.grant_lock():  # waits for the first's lock to expire
                got_it.set()
                await first_left.wait()
                assert await second.redis.exists(second.lock_key) == 1

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                async with first.grant_lock():
                    tg.start_soon(take_over)
                    await got_it.wait()
                first_left.set()


@pytest.mark.parametrize("case", [("redis", "trio")], ids=["trio"], indirect=True)
async def test_the_redis_store_refuses_trio_clearly(redis_server: RedisServer) -> None:  # noqa: F811
    """On trio (where redis-py's asyncio client cannot run) each call raises ConfigurationError."""
    store = RedisTokenStore(redis.asyncio.Redis(port=redis_server.port), key="test:trio")
    with pytest.raises(ConfigurationError, match="needs asyncio"):
        await store.load()
    with pytest.raises(ConfigurationError, match="needs asyncio"):
        await store.save(token(), replaces=None)
    with pytest.raises(ConfigurationError, match="needs asyncio"):
        async with store.grant_lock():
            pass


def test_the_redis_store_checks_its_options() -> None:
    """An empty key or a lock TTL that is not a positive number is refused at once."""
    client = redis.asyncio.Redis()
    with pytest.raises(ConfigurationError, match="non-empty key"):
        RedisTokenStore(client, key="")
    with pytest.raises(ConfigurationError, match="lock_ttl"):
        RedisTokenStore(client, lock_ttl=0)


# -- the token itself --------------------------------------------------------------


@pytest.mark.parametrize(
    "case", [("memory", backend) for backend in BACKENDS], ids=BACKENDS, indirect=True
)
async def test_token_expiry_is_wall_clock_utc_on_every_backend() -> None:
    """A new token expires expires_in seconds from now on the wall clock, not a loop's clock."""
    before = dt.datetime.now(UTC)
    fresh = token(expires_in=300)
    assert fresh.expires_at.tzinfo is UTC
    assert before + dt.timedelta(seconds=299) < fresh.expires_at
    assert fresh.expires_at < dt.datetime.now(UTC) + dt.timedelta(seconds=301)
    assert 299 < fresh.seconds_left() <= 300


def test_a_token_round_trips_through_json_and_refuses_bad_json_without_quoting() -> None:
    """to_json/from_json are inverse; a bad record's error never repeats its content."""
    original = token()
    assert Token.from_json(original.to_json()) == original
    for bad in ('{"access_token": "acc-Secret-1"}', "[1]", "acc-Secret-1", '{"x": 1'):
        with pytest.raises(ValueError, match="stored token") as info:
            Token.from_json(bad)
        assert "acc-Secret-1" not in str(info.value)


def test_a_token_needs_an_aware_expiry() -> None:
    """A naive expires_at is ambiguous across hosts and refused; others become UTC."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Token("a", None, 1.0, dt.datetime(2030, 1, 1))
    cet = dt.timezone(dt.timedelta(hours=1))
    moved = Token("a", None, 1.0, dt.datetime(2030, 1, 1, 1, tzinfo=cet))
    assert moved.expires_at == dt.datetime(2030, 1, 1, tzinfo=UTC)
    assert moved.expires_at.tzinfo is UTC
    assert "***" in repr(Token("acc-Secret-1", "ref-Secret-1", 1.0))


def test_every_store_is_a_token_store(tmp_path: Path) -> None:
    """The shipped stores satisfy the TokenStore protocol."""
    for store in (
        MemoryTokenStore(),
        FileTokenStore(tmp_path / "t.json"),
        RedisTokenStore(redis.asyncio.Redis()),
    ):
        assert isinstance(store, TokenStore)
    assert os.fspath(FileTokenStore(tmp_path / "t.json").path).endswith("t.json")
