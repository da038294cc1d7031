"""The token lifecycle: login, proactive refresh, single flight, fallback, 401 replay."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

import anyio
import attrs
import httpx
import pytest

from cloutility_async import AuthenticationError, Token
from tests.fakeportal import CLIENT_ID, ORIGIN, PASSWORD, USERNAME, FakePortal

pytestmark = pytest.mark.anyio


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_login_sends_the_password_grant_as_a_form_with_origin() -> None:
    """Entering the client makes one password grant shaped like the reference's."""
    portal = FakePortal()
    async with portal.client():
        pass
    (request,) = portal.grant_requests
    assert request.method == "POST"
    assert request.url == "https://portal.test/v1/oauth"
    assert request.headers["origin"] == ORIGIN
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(request) == {
        "client_id": CLIENT_ID,
        "grant_type": "password",
        "username": USERNAME,
        "password": PASSWORD,
    }


async def test_calls_carry_origin_bearer_and_accept() -> None:
    """Every API call sends Origin, the bearer token and Accept: application/json."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion", json="1.0.4480.0")
    async with portal.client() as api:
        assert await api.full_version() == "1.0.4480.0"
    request = route.calls.last.request
    assert request.headers["origin"] == ORIGIN
    assert request.headers["authorization"] == "Bearer access-2-xyzzy"
    assert request.headers["accept"] == "application/json"


async def test_bad_credentials_raise_authentication_error_with_server_message() -> None:
    """A refused password grant raises AuthenticationError with error and description."""
    portal = FakePortal()
    with pytest.raises(AuthenticationError) as info:
        async with portal.client(password="wrong"):
            pass
    assert info.value.error == "invalid_grant"
    assert info.value.message == "The user name or password is incorrect."
    assert info.value.status == 400
    assert info.value.method == "POST"
    assert "wrong" not in str(info.value)
    assert "wrong" not in repr(info.value)


async def test_refresher_renews_ahead_of_expiry_with_the_refresh_grant() -> None:
    """The background refresher uses the refresh grant, with the old bearer token."""
    portal = FakePortal(lifetime=0.6)
    async with portal.client(refresh_margin=60) as api:
        first = api.token
        await anyio.sleep(0.45)  # the margin is capped at half the lifetime: renewal at 0.3 s
        assert portal.grants == ["password", "refresh_token"]
        assert api.token is not first
    refresh = portal.grant_requests[1]
    assert refresh.headers["authorization"] == "Bearer access-2-xyzzy"
    assert form(refresh) == {
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": "refresh-1-plugh",
    }


async def test_refused_refresh_falls_back_to_the_password_grant() -> None:
    """A client ID without refresh permission gets a new password grant, no error."""
    portal = FakePortal(lifetime=0.4, allow_refresh=False)
    route = portal.route("GET", "fullVersion", json="1.0")
    async with portal.client() as api:
        await anyio.sleep(0.3)
        assert await api.full_version() == "1.0"
        stats = api.statistics()
    assert portal.grants[:3] == ["password", "refresh_token", "password"]
    assert stats.refresh_refused >= 1
    assert route.calls.last.response.status_code == 200


async def test_concurrent_calls_at_expiry_share_one_grant() -> None:
    """200 calls that find the token expired cause exactly one grant and no error."""
    portal = FakePortal(grant_delay=0.05)
    portal.route("GET", "fullVersion", json="1.0")
    async with portal.client(max_concurrency=64) as api:
        auth = api._auth
        assert auth is not None
        assert auth.current is not None
        # Age the token past its expiry, as if the machine had been asleep.
        expired = attrs.evolve(
            auth.current, expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=400)
        )
        auth._token = expired
        portal.tokens[expired.access_token] = 0.0
        results: list[str] = []

        async def call() -> None:
            results.append(await api.full_version())

        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(call)
    assert results == ["1.0"] * 200
    assert portal.grants.count("refresh_token") + portal.grants.count("password") == 2


async def test_requests_do_not_wait_for_a_refresh_while_the_token_is_valid() -> None:
    """During a slow proactive refresh, calls proceed with the still-valid token."""
    portal = FakePortal(lifetime=2.0)
    used: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        used.append(portal.bearer(request))
        return httpx.Response(200, json="1.0")

    portal.route("GET", "fullVersion", handler)
    async with portal.client(refresh_margin=1.0) as api:
        portal.grant_delay = 0.5  # the refresh at t=1.0 will take half a second
        await anyio.sleep(1.1)
        assert len(portal.grant_requests) == 2  # the refresh grant is in flight
        assert await api.full_version() == "1.0"
        assert len(portal.tokens) == 1  # ... and has not finished when the call is done
        await anyio.sleep(0.6)
    assert used == ["access-2-xyzzy"]


async def test_401_renews_once_and_replays_the_request_once() -> None:
    """A 401 invalidates the token it was sent with, re-authenticates and replays."""
    portal = FakePortal()
    calls: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(portal.bearer(request))
        if len(calls) == 1:
            return httpx.Response(401, json={"message": "Authorization has been denied."})
        return httpx.Response(200, json="1.0")

    portal.route("GET", "fullVersion", handler)
    async with portal.client() as api:
        assert await api.full_version() == "1.0"
        assert api.statistics().replays_after_401 == 1
    assert len(calls) == 2
    assert calls[0] != calls[1]
    assert len(portal.grants) == 2


async def test_second_401_raises_authentication_error() -> None:
    """When the replay is refused too, AuthenticationError names method, URL and status."""
    portal = FakePortal()
    route = portal.route(
        "GET", "fullVersion", status_code=401, json={"message": "Authorization has been denied."}
    )
    async with portal.client() as api:
        with pytest.raises(AuthenticationError) as info:
            await api.full_version()
    assert route.call_count == 2
    assert info.value.status == 401
    assert info.value.url == "https://portal.test/v1/fullVersion"
    assert info.value.method == "GET"
    assert "Authorization has been denied." in str(info.value)


async def test_concurrent_401s_on_one_token_cause_one_grant() -> None:
    """Many requests refused with the same revoked token share one renewal."""
    portal = FakePortal(grant_delay=0.02)
    portal.route("GET", "fullVersion", json="1.0")
    async with portal.client(max_concurrency=50) as api:
        portal.tokens.clear()  # the portal revokes every token early
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(api.full_version)
    assert len(portal.grants) == 2


async def test_on_token_hook_sees_each_new_token() -> None:
    """A web backend can observe (and persist) every token the client obtains."""
    portal = FakePortal(lifetime=0.4)
    seen: list[Token] = []

    async def on_token(token: Token) -> None:
        seen.append(token)

    async with portal.client(on_token=on_token):
        await anyio.sleep(0.3)
    assert [t.access_token for t in seen] == ["access-2-xyzzy", "access-3-xyzzy"]
    assert all(t.refresh_token == "refresh-1-plugh" for t in seen)


async def test_a_cancelled_caller_does_not_abort_the_shared_grant() -> None:
    """The caller that started a slow grant times out; the grant still serves the next caller."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.0")
    async with portal.client() as api:
        portal.tokens.clear()  # revoked: the next call must renew
        portal.grant_delay = 0.3
        with anyio.move_on_after(0.05):
            await api.full_version()
        assert await api.full_version() == "1.0"
    assert len(portal.grant_requests) == 2  # the login and the one renewal, not a restart


async def test_the_refresher_survives_an_unexpected_error() -> None:
    """An error that is not ours, raised during a proactive refresh, never reaches the body."""
    portal = FakePortal(lifetime=0.4)
    portal.route("GET", "fullVersion", json="1.0")
    async with portal.client(max_retries=0) as api:
        portal.router.post("oauth").mock(side_effect=RuntimeError("token endpoint exploded"))
        await anyio.sleep(0.35)
        portal.router.post("oauth").mock(side_effect=portal._oauth)
        assert await api.full_version() == "1.0"


async def test_a_refused_password_stops_proactive_attempts() -> None:
    """When the password is changed behind the client, the refresher does not hammer the portal."""
    portal = FakePortal(lifetime=0.3, allow_refresh=False)
    async with portal.client() as api:
        api._credentials = attrs.evolve(api._credentials, password="changed-elsewhere")
        assert api._auth is not None
        api._auth._credentials = api._credentials
        await anyio.sleep(1.5)
    # login, then one refused refresh and one refused password grant; no loop afterwards
    assert len(portal.grant_requests) <= 4
