"""The client's options, environment configuration and `async with` lifecycle."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import cloutility_async
from cloutility_async import ClientStateError, Cloutility, ConfigurationError
from tests.fakeportal import CLIENT_ID, ORIGIN, PASSWORD, USERNAME, FakePortal

GOOD = {"client_id": CLIENT_ID, "origin": ORIGIN, "username": USERNAME, "password": PASSWORD}
ENV = {
    "CLOUTILITY_CLIENT_ID": CLIENT_ID,
    "CLOUTILITY_ORIGIN": ORIGIN,
    "CLOUTILITY_USERNAME": USERNAME,
    "CLOUTILITY_PASSWORD": PASSWORD,
}


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and records whether the client closed it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("client_id", "", "client_id must be a non-empty string"),
        ("origin", "not a url", "origin must be an http(s) URL"),
        ("username", "  ", "username must be a non-empty string"),
        ("password", None, "password must be a non-empty string"),
        ("base_url", "ftp://x/v1/", "base_url must be an http(s) URL"),
        ("max_concurrency", 0, "max_concurrency must be > 0"),
        ("max_concurrency", 2.5, "max_concurrency must be a whole number"),
        ("max_retries", -1, "max_retries must be >= 0"),
        ("timeout", float("nan"), "timeout must be > 0"),
        ("transport", object(), "transport must be an httpx.AsyncBaseTransport"),
    ],
)
def test_bad_options_raise_configuration_error(option: str, value: object, message: str) -> None:
    """Each invalid option is refused at construction with a message naming it."""
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Cloutility(**{**GOOD, option: value})  # type: ignore[arg-type]


def test_base_url_gets_a_trailing_slash() -> None:
    """base_url without a trailing slash still resolves paths under /v1/."""
    api = Cloutility(**GOOD, base_url="https://portal.test/v1")
    assert str(api.base_url) == "https://portal.test/v1/"


def test_from_env_reads_the_cloutility_variables() -> None:
    """from_env builds a client from CLOUTILITY_* variables, base URL included."""
    api = Cloutility.from_env({**ENV, "CLOUTILITY_BASE_URL": "http://127.0.0.1:9/v1/"})
    assert str(api.base_url) == "http://127.0.0.1:9/v1/"
    assert api.origin == ORIGIN


def test_from_env_defaults_the_base_url() -> None:
    """Without CLOUTILITY_BASE_URL the client talks to the documented portal."""
    assert str(Cloutility.from_env(ENV).base_url) == cloutility_async.DEFAULT_BASE_URL


@pytest.mark.parametrize("missing", sorted(ENV))
def test_from_env_names_the_missing_variable(missing: str) -> None:
    """A missing variable is a ConfigurationError that names it."""
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        Cloutility.from_env(env)


def test_repr_shows_no_password() -> None:
    """The client's repr names the account but never the password."""
    api = Cloutility(**GOOD)
    assert USERNAME in repr(api)
    assert PASSWORD not in repr(api)
    assert PASSWORD not in str(api)


@pytest.mark.anyio
async def test_calls_outside_async_with_raise_client_state_error() -> None:
    """Using the client before entering it (or after leaving) is a clear error."""
    portal = FakePortal()
    api = portal.client()
    with pytest.raises(ClientStateError, match="async with"):
        await api.full_version()
    async with api:
        pass
    with pytest.raises(ClientStateError):
        await api.full_version()


@pytest.mark.anyio
async def test_exit_closes_the_transport_and_stops_the_refresher() -> None:
    """Leaving `async with` closes connections and ends the background task."""
    portal = FakePortal()
    transport = RecordingTransport(portal.transport())
    async with portal.client(transport=transport) as api:
        pass
    assert transport.closed
    grants = len(portal.grants)
    await anyio.sleep(0.05)
    assert len(portal.grants) == grants
    assert api._stack is None


@pytest.mark.anyio
async def test_exit_cleans_up_when_the_body_raises() -> None:
    """An exception in the body propagates unchanged and the transport is closed."""
    portal = FakePortal()
    transport = RecordingTransport(portal.transport())
    with pytest.raises(KeyError, match="boom"):
        async with portal.client(transport=transport):
            raise KeyError("boom")
    assert transport.closed


@pytest.mark.anyio
async def test_exit_cleans_up_when_the_body_is_cancelled() -> None:
    """Cancelling the body still closes the transport and the refresher."""
    portal = FakePortal()
    transport = RecordingTransport(portal.transport())
    with anyio.move_on_after(0.05) as scope:
        async with portal.client(transport=transport):
            await anyio.sleep(10)
    assert scope.cancelled_caught
    assert transport.closed


@pytest.mark.anyio
async def test_failed_login_closes_the_transport() -> None:
    """When the password grant is refused, nothing is left open."""
    portal = FakePortal()
    transport = RecordingTransport(portal.transport())
    with pytest.raises(cloutility_async.AuthenticationError):
        async with portal.client(transport=transport, password="nope"):
            pass
    assert transport.closed


def test_public_names_are_exported_from_the_package() -> None:
    """The public face: every name in __all__ exists and reprs say cloutility_async."""
    for name in cloutility_async.__all__:
        assert hasattr(cloutility_async, name)
    assert cloutility_async.Cloutility.__module__ == "cloutility_async"
    assert issubclass(cloutility_async.NotFoundError, cloutility_async.APIError)
    assert issubclass(cloutility_async.APIError, cloutility_async.CloutilityError)


@pytest.mark.anyio
async def test_a_closed_client_can_be_entered_again() -> None:
    """Each `async with` opens a fresh session: new connections, the kept store's token."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.0")
    transport = RecordingTransport(portal.transport())
    api = portal.client(transport=transport)
    for session in range(3):
        transport.closed = False
        async with api:
            assert await api.full_version() == "1.0"
            # The first session logs in; the token store is kept, so the others need not.
            assert api.statistics().requests == 1
            assert api.statistics().grants == (1 if session == 0 else 0)
        assert transport.closed  # each session closes its connections
        with pytest.raises(ClientStateError, match="async with"):
            await api.full_version()
    assert portal.grants == ["password"]


@pytest.mark.anyio
async def test_an_open_client_cannot_be_entered_twice() -> None:
    """Entering a client that is open raises ClientStateError and leaves it working."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.0")
    async with portal.client() as api:
        with pytest.raises(ClientStateError, match="already open"):
            await api.__aenter__()
        assert await api.full_version() == "1.0"


@pytest.mark.anyio
async def test_a_failed_login_leaves_the_client_enterable() -> None:
    """After a refused login the same client can be entered once the password is right."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.0")
    api = portal.client(password="nope")
    with pytest.raises(cloutility_async.AuthenticationError):
        async with api:
            pass
    api._credentials = attrs.evolve(api._credentials, password=PASSWORD)
    async with api:
        assert await api.full_version() == "1.0"


@contextlib.asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s ASGI lifespan as a server does (startup, requests, shutdown)."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def run() -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        await app(scope, app_inbox.receive, app_outbox.send)

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as tg:
        tg.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
            yield http
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


@pytest.mark.anyio
async def test_one_client_serves_three_lifespans_of_a_starlette_app() -> None:
    """A module-level client entered in the app's lifespan works in three lifespans in a row."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.0.4480.0")
    api = portal.client()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with api:
            yield

    async def version(request: Request) -> JSONResponse:
        return JSONResponse({"portal": await api.full_version()})

    app = Starlette(routes=[Route("/version", version)], lifespan=lifespan)
    for _ in range(3):
        async with served(app) as http:
            assert (await http.get("/version")).json() == {"portal": "1.0.4480.0"}
        assert repr(api).endswith("closed>")
    assert portal.grants == ["password"]  # the token store is kept across lifespans
