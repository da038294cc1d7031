"""Mocking the portal with respx (or pytest-httpx): the recipe, and no silent bypass."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from cloutility_async import Cloutility
from cloutility_async._interception import httpx_is_intercepted

pytestmark = pytest.mark.anyio

# Nothing listens on the discard port: a request that went around the mock fails at
# once on loopback instead of reaching any network.
BASE_URL = "http://127.0.0.1:9/v1/"
TOKEN = {"access_token": "a-1", "token_type": "bearer", "expires_in": 299, "refresh_token": "r-1"}
CREDENTIALS: dict[str, Any] = {
    "client_id": "0e6a1c5e-1111-4222-8333-944445555666",
    "origin": "https://app.example",
    "username": "alice",
    "password": "s3cret-Pa55word",
    "base_url": BASE_URL,
    "max_retries": 0,
}


async def test_the_respx_recipe(anyio_backend: str) -> None:
    """The README's recipe: a respx router handed over as an httpx.MockTransport."""
    router = respx.MockRouter(base_url=BASE_URL, assert_all_called=True)
    router.post("oauth").respond(json=TOKEN)
    router.get("fullVersion").respond(json="1.0.4480.0")
    async with Cloutility(
        **CREDENTIALS, transport=httpx.MockTransport(router.async_handler)
    ) as api:
        assert await api.full_version() == "1.0.4480.0"
    router.assert_all_called()
    assert router.routes[1].calls.last.request.headers["authorization"] == "Bearer a-1"


async def test_respx_mock_sees_the_default_transport_on_both_backends(anyio_backend: str) -> None:
    """With `respx.mock` active the client's default transport goes through httpx, so the
    mock answers on asyncio as on trio (aiohttp would have gone around it)."""
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        router.post("oauth").respond(json=TOKEN)
        version = router.get("fullVersion").respond(json="1.0.4480.0")
        async with Cloutility(**CREDENTIALS) as api:
            assert await api.full_version() == "1.0.4480.0"
    assert version.call_count == 1


async def test_a_patched_httpx_transport_is_seen_too(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-httpx's way (patching httpx's transport) reaches the mock on both backends."""
    seen: list[str] = []

    async def handle(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/oauth"):
            return httpx.Response(200, json=TOKEN)
        return httpx.Response(200, json="1.0.4480.0")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle)
    async with Cloutility(**CREDENTIALS) as api:
        assert await api.full_version() == "1.0.4480.0"
    assert seen == ["POST /v1/oauth", "GET /v1/fullVersion"]


def test_interception_is_seen_only_while_a_mock_is_active() -> None:
    """Outside respx.mock nothing is intercepted, so asyncio keeps its aiohttp transport."""
    assert httpx_is_intercepted() is False
    with respx.mock:
        assert httpx_is_intercepted() is True
    assert httpx_is_intercepted() is False
