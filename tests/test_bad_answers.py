"""Every answer the SDK cannot use is a typed error naming method, URL and status."""

from __future__ import annotations

import gc
import warnings

import httpx
import pytest

from cloutility_async import (
    AuthenticationError,
    BadRequestError,
    Cloutility,
    DecodeError,
    ServerError,
    ValidationError,
    _converter,
)
from tests.fakeportal import FakePortal
from tests.rawserver import RawServer, Received, Reply

pytestmark = pytest.mark.anyio

DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_deeply_nested_json_is_a_decode_error_not_a_recursion_error() -> None:
    """A body nested 100,000 deep raises DecodeError with method, URL and status."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", content=DEEP)
    async with portal.client() as api:
        with pytest.raises(DecodeError, match="nested too deeply") as info:
            await api.full_version()
    assert info.value.method == "GET"
    assert info.value.url == "https://portal.test/v1/fullVersion"
    assert info.value.status == 200


async def test_a_deeply_nested_error_body_still_gives_the_typed_error() -> None:
    """An unreadable error body is no reason to lose the status: a 400 is BadRequestError."""
    portal = FakePortal()
    portal.route("GET", "bunits/5", status_code=400, content=DEEP)
    async with portal.client() as api:
        with pytest.raises(BadRequestError) as info:
            await api.bunit(5).get()
    assert info.value.status == 400
    assert info.value.url == "https://portal.test/v1/bunits/5"


async def test_a_body_that_is_not_utf8_is_a_decode_error() -> None:
    """Latin-1 bytes where JSON (UTF-8) is expected raise DecodeError, not UnicodeError."""
    portal = FakePortal()
    portal.route("GET", "bunits/5", content='{"name": "Café"}'.encode("latin-1"))
    async with portal.client() as api:
        with pytest.raises(DecodeError) as info:
            await api.bunit(5).get()
    assert info.value.status == 200


async def test_a_model_nested_past_the_recursion_limit_is_a_decode_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should reading a model run out of stack, the caller gets DecodeError naming the call."""

    def exhausted(*args: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(_converter, "structure", exhausted)
    portal = FakePortal()
    portal.route("GET", "bunits/5", json={"id": 5})
    async with portal.client() as api:
        with pytest.raises(DecodeError, match="nested too deeply") as info:
            await api.bunit(5).get()
    assert info.value.url == "https://portal.test/v1/bunits/5"
    assert info.value.status == 200


async def test_a_corrupt_gzip_body_over_a_real_socket_names_the_status() -> None:
    """Over the default transport a gzip body that does not inflate is a DecodeError with 200."""

    async def handler(request: Received) -> Reply:
        if request.path.endswith("oauth"):
            return Reply.json({"access_token": "a", "expires_in": 299})
        return Reply(200, b"definitely not gzip", (("Content-Encoding", "gzip"),))

    async with RawServer(handler) as server:
        api = Cloutility(
            client_id="c", origin="https://app.example", username="u", password="p",
            base_url=server.base_url,
        )  # fmt: skip
        async with api:
            with pytest.raises(DecodeError, match="could not be decoded") as info:
                await api.full_version()
    assert info.value.status == 200
    assert info.value.url == f"{server.base_url}fullVersion"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def token_portal(body: bytes) -> FakePortal:
    """A portal whose grants answer 200 with ``body``."""
    portal = FakePortal()
    portal.router.post("oauth").mock(
        return_value=httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    )
    return portal


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"token_type": "bearer", "expires_in": 299}', "no usable access_token"),
        (b'{"access_token": 42}', "no usable access_token"),
        (b'{"access_token": ""}', "no usable access_token"),
        (b'{"access_token": "two words"}', "no usable access_token"),
        (b'["access_token"]', "not a JSON object"),
        (b'{"access_token": "a", "expires_in": "soon"}', "invalid expires_in"),
        (b'{"access_token": "a", "expires_in": true}', "invalid expires_in"),
        (b'{"access_token": "a", "expires_in": -5}', "invalid expires_in"),
        (b'{"access_token": "a", "expires_in": null}', "invalid expires_in"),
        (b'{"access_token": "a", "expires_in": 1e999}', "invalid expires_in"),
        (b'{"access_token": "a", "expires_in": 1' + b"0" * 400 + b"}", "invalid expires_in"),
        (b'{"access_token": "a", "expires_in": {}}', "invalid expires_in"),
        (b"<html>Sign in</html>", "expected JSON"),
        (DEEP, "nested too deeply"),
    ],
)
async def test_an_unusable_token_response_is_a_decode_error_naming_the_grant(
    body: bytes, problem: str
) -> None:
    """A 200 from oauth that holds no usable token fails the login with POST .../oauth -> 200."""
    with pytest.raises(DecodeError, match=problem) as info:
        async with token_portal(body).client():
            pass
    assert info.value.method == "POST"
    assert info.value.url == "https://portal.test/v1/oauth"
    assert info.value.status == 200


async def test_a_numeric_string_expires_in_is_read_as_seconds() -> None:
    """The vendor's C# sample types expires_in as a string: "299" is 299 seconds."""
    async with token_portal(b'{"access_token": "a", "expires_in": "299"}').client() as api:
        assert api.token is not None
        assert api.token.expires_in == 299


async def test_a_refused_refresh_with_an_error_body_keeps_its_code() -> None:
    """A refused grant is AuthenticationError with the OAuth code, a 5xx grant a ServerError."""
    portal = FakePortal()
    portal.router.post("oauth").mock(
        return_value=httpx.Response(400, json={"error": "invalid_client"})
    )
    with pytest.raises(AuthenticationError) as refused:
        async with portal.client():
            pass
    assert refused.value.error == "invalid_client"
    portal.router.post("oauth").mock(return_value=httpx.Response(500, text="<html>"))
    with pytest.raises(ServerError) as failed:
        async with portal.client(max_retries=0):
            pass
    assert failed.value.status == 500


async def test_a_body_that_cannot_be_sent_as_json_is_refused_before_sending() -> None:
    """A body json cannot encode (a set, a cycle) raises ValidationError; nothing is sent."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers", json={"id": 1})
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    async with portal.client() as api:
        sender = api._port.sender()
        for body in ({"names": {"a", "b"}}, cycle):
            with pytest.raises(ValidationError, match="cannot be sent as JSON") as info:
                await sender.send("POST", "bunits/22/consumers", json_body=body)
            assert info.value.url == "https://portal.test/v1/bunits/22/consumers"
    assert route.call_count == 0
