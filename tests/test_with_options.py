"""Per-call options: ``api.with_options(...)`` views, RequestTimeoutError, headers on APIError."""

from __future__ import annotations

import anyio
import httpx
import pytest

from cloutility_async import (
    APIError,
    ClientStateError,
    Cloutility,
    ConfigurationError,
    NotFoundError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from tests.fakeportal import PASSWORD, FakePortal
from tests.rawserver import Action, RawServer, Received, Reply, wait_until

pytestmark = pytest.mark.anyio

CONSUMER = {"id": 7, "name": "c7", "href": "https://portal.test/v1/bunits/1/consumers/7"}


class HeldPortal:
    """Grants tokens; every ``fullVersion`` is held until ``release`` is set."""

    def __init__(self) -> None:
        self.release = anyio.Event()

    async def __call__(self, request: Received) -> Action:
        if request.path.endswith("/oauth"):
            return Reply.json({"access_token": "a", "expires_in": 299, "refresh_token": "r"})
        await self.release.wait()
        return Reply.json("1.2.3")


async def test_a_per_call_timeout_fires_while_the_client_default_does_not() -> None:
    """Over real sockets: the view's 0.2 s read timeout raises RequestTimeoutError, the
    client's 30 s one waits for the same slow answer and gets it."""
    portal = HeldPortal()
    async with RawServer(portal) as server:
        api = Cloutility(
            client_id="c",
            origin="https://app.example",
            username="u",
            password="p",
            base_url=server.base_url,
            timeout=30.0,
        )
        async with api:
            quick = api.with_options(timeout=0.2, max_retries=0)
            with pytest.raises(RequestTimeoutError) as info:
                await quick.full_version()
            assert isinstance(info.value, TransportError)
            assert info.value.method == "GET"
            assert str(info.value.url).endswith("/v1/fullVersion")
            versions: list[str] = []

            async def patient() -> None:
                versions.append(await api.full_version())

            async with anyio.create_task_group() as tg:
                tg.start_soon(patient)
                assert await wait_until(lambda: len(server.requests_to("fullVersion")) == 2)
                portal.release.set()
    assert versions == ["1.2.3"]
    assert len(server.requests_to("fullVersion")) == 2  # the quick call made one attempt


async def test_a_per_call_max_retries_of_0_makes_one_attempt() -> None:
    """The view gives up after the first 503; the client itself still retries 3 times."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion", status_code=503)
    async with portal.client(max_retries=3) as api:
        with pytest.raises(ServerError):
            await api.with_options(max_retries=0).full_version()
        assert route.call_count == 1
        with pytest.raises(ServerError):
            await api.full_version()
    assert route.call_count == 1 + 4


async def test_the_proxies_of_a_view_use_its_options() -> None:
    """A consumer GET through a view is sent with the view's timeouts and retry budget."""
    portal = FakePortal()
    seen: list[dict[str, float | None]] = []
    answers = [httpx.Response(503), httpx.Response(200, json=CONSUMER)]

    async def consumer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return answers.pop(0) if answers else httpx.Response(200, json=CONSUMER)

    portal.route("GET", "bunits/1/consumers/7", consumer)
    async with portal.client(timeout=30.0) as api:
        view = api.with_options(timeout=httpx.Timeout(5.0, connect=2.0), max_retries=0)
        with pytest.raises(ServerError):
            await view.bunit(1).consumer(7).get()
        assert seen == [{"connect": 2.0, "read": 5.0, "write": 5.0, "pool": 5.0}]
        ref = view.ref(CONSUMER["href"])
        assert (await ref.get()).name == "c7"  # type: ignore[union-attr]
        assert (await api.bunit(1).consumer(7).get()).name == "c7"
    assert seen[1] == {"connect": 2.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    assert seen[2] == {"connect": 30.0, "read": 30.0, "write": 30.0, "pool": 30.0}


async def test_a_view_shares_the_session_tokens_and_counters() -> None:
    """One password grant serves client and view; the view reports the client's statistics."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.2.3")
    api = portal.client(max_concurrency=4)
    view = api.with_options(timeout=5.0)  # made before the session: it follows the client's
    async with api:
        assert await view.full_version() == "1.2.3"
        assert await api.full_version() == "1.2.3"
        assert await view.with_options(max_retries=1).full_version() == "1.2.3"
        assert view.token is api.token is not None
        assert view.statistics() == api.statistics()
        assert api.statistics().requests == 3
        assert api.statistics().grants == 1
    assert portal.grants == ["password"]
    with pytest.raises(ClientStateError, match="not open"):
        await view.full_version()


async def test_a_view_is_not_entered_itself() -> None:
    """``async with`` a view is refused: its client's session is the one it uses."""
    portal = FakePortal()
    api = portal.client()
    view = api.with_options(max_retries=0)
    with pytest.raises(ClientStateError, match="with_options"):
        async with view:
            pass
    assert portal.grants == []
    assert "with_options" in repr(view)
    assert PASSWORD not in repr(view)


async def test_a_views_policy_replaces_the_clients() -> None:
    """``with_options(retry=...)`` takes a whole policy; ``max_retries`` then changes only that."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion", status_code=503)
    async with portal.client(max_retries=0) as api:
        with pytest.raises(ServerError):
            await api.with_options(retry=RetryPolicy(max_retries=2, backoff_base=0)).full_version()
        assert route.call_count == 3
        with pytest.raises(ServerError):
            await api.with_options(retry=RetryPolicy(backoff_base=0), max_retries=1).full_version()
        assert route.call_count == 3 + 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": -1}, "timeout must be > 0"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"timeout": "soon"}, "timeout must be a number or an httpx.Timeout"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"max_retries": 1.5}, "max_retries must be a whole number"),
        ({"retry": {"max_retries": 1}}, "retry must be a RetryPolicy"),
    ],
)
def test_with_options_refuses_values_it_cannot_use(
    options: dict[str, object], message: str
) -> None:
    """A bad option is a ConfigurationError when the view is made, before anything is sent."""
    api = FakePortal().client()
    with pytest.raises(ConfigurationError, match=message):
        api.with_options(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectTimeout("t"),
        httpx.ReadTimeout("t"),
        httpx.WriteTimeout("t"),
        httpx.PoolTimeout("t"),
    ],
)
async def test_every_timeout_is_a_request_timeout_error(failure: httpx.TimeoutException) -> None:
    """Connect, read, write and pool timeouts all raise RequestTimeoutError, a TransportError."""
    portal = FakePortal()
    route = portal.router.get("fullVersion").mock(side_effect=failure)
    async with portal.client(max_retries=1) as api:
        with pytest.raises(RequestTimeoutError) as info:
            await api.full_version()
    assert isinstance(info.value, TransportError)
    assert type(failure).__name__ in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert route.call_count == 2  # a timed-out GET is retried like any network failure


@pytest.mark.parametrize(
    "header", ["X-Request-Id", "Request-Id", "X-Correlation-Id", "X-Ms-Request-Id"]
)
async def test_an_api_error_carries_the_headers_and_the_request_id(header: str) -> None:
    """The response's headers are on the error, and the portal's request id when it sends one."""
    portal = FakePortal()
    portal.route(
        "GET",
        "bunits/1",
        status_code=404,
        headers={header: "req-42", "X-Powered-By": "ASP.NET"},
        json={"message": "No such business unit."},
    )
    async with portal.client() as api:
        with pytest.raises(NotFoundError) as info:
            await api.bunit(1).get()
    error = info.value
    assert error.request_id == "req-42"
    assert error.headers["x-powered-by"] == "ASP.NET"
    assert error.headers[header.lower()] == "req-42"


async def test_an_api_error_without_a_request_id_header_has_none() -> None:
    """No request-id header: ``request_id`` is None, the headers are still there."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", status_code=409, headers={"Retry-After": "3"})
    async with portal.client() as api:
        with pytest.raises(APIError) as info:
            await api.full_version()
    assert info.value.request_id is None
    assert info.value.headers["retry-after"] == "3"


async def test_an_api_errors_headers_never_hold_the_bearer_token() -> None:
    """A 401 whose header quotes the token sent: the token is masked in the error's headers."""
    portal = FakePortal()

    async def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, headers={"X-Echo": request.headers["authorization"]})

    portal.route("GET", "fullVersion", echo)
    async with portal.client() as api:
        with pytest.raises(APIError) as info:
            await api.full_version()
        token = api.token
    assert token is not None
    assert token.access_token not in repr(dict(info.value.headers))
    assert info.value.headers["x-echo"] == "Bearer ***"


async def test_an_api_errors_headers_never_hold_the_refresh_token() -> None:
    """A header that quotes the session's refresh token (a cookie): masked like the bearer."""
    portal = FakePortal()

    async def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, headers={"Set-Cookie": f"session={sorted(portal.refresh_tokens)[0]}"}
        )

    portal.route("GET", "fullVersion", echo)
    async with portal.client() as api:
        with pytest.raises(APIError) as info:
            await api.full_version()
        token = api.token
    assert token is not None
    assert token.refresh_token
    assert token.refresh_token not in repr(dict(info.value.headers))
    assert info.value.headers["set-cookie"] == "session=***"
