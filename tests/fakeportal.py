"""A respx-mocked portal for unit tests: OAuth grants plus routes that check the bearer."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import respx

from cloutility_async import Cloutility

BASE_URL = "https://portal.test/v1/"
CLIENT_ID = "0e6a1c5e-1111-4222-8333-944445555666"
ORIGIN = "https://app.example"
USERNAME = "alice"
PASSWORD = "s3cret-Pa55word"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakePortal:
    """OAuth as the reference describes it, with counters for the tests."""

    def __init__(
        self, *, lifetime: float = 299, allow_refresh: bool = True, grant_delay: float = 0.0
    ) -> None:
        self.lifetime = lifetime
        self.allow_refresh = allow_refresh
        self.grant_delay = grant_delay
        self.router = respx.Router(base_url=BASE_URL, assert_all_called=False)
        self.grants: list[str] = []
        self.grant_requests: list[httpx.Request] = []
        self.tokens: dict[str, float] = {}
        self.refresh_tokens: set[str] = set()
        self._serial = itertools.count(1)
        self.router.post("oauth").mock(side_effect=self._oauth)

    # -- OAuth ------------------------------------------------------------------

    def _new_token(self) -> str:
        return f"access-{next(self._serial)}-xyzzy"

    async def _oauth(self, request: httpx.Request) -> httpx.Response:
        self.grant_requests.append(request)
        if self.grant_delay:
            await anyio.sleep(self.grant_delay)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if request.headers.get("origin") != ORIGIN or form.get("client_id") != CLIENT_ID:
            return httpx.Response(400, json={"error": "invalid_client"})
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "password":
            if form.get("username") != USERNAME or form.get("password") != PASSWORD:
                return httpx.Response(
                    400,
                    json={
                        "error": "invalid_grant",
                        "error_description": "The user name or password is incorrect.",
                    },
                )
            refresh = f"refresh-{next(self._serial)}-plugh"
            self.refresh_tokens.add(refresh)
        elif grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            if not self.allow_refresh or refresh not in self.refresh_tokens:
                return httpx.Response(
                    400,
                    json={"error": "invalid_grant", "error_description": "Refresh not allowed."},
                )
        else:
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        access = self._new_token()
        self.tokens[access] = anyio.current_time() + self.lifetime
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.lifetime,
                "refresh_token": refresh,
            },
        )

    # -- helpers for routes -----------------------------------------------------

    def bearer(self, request: httpx.Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    def authorized(self, request: httpx.Request) -> bool:
        expires = self.tokens.get(self.bearer(request))
        return (
            expires is not None
            and expires > anyio.current_time()
            and request.headers.get("origin") == ORIGIN
        )

    def route(
        self, method: str, path: str, handler: Handler | None = None, **response: Any
    ) -> respx.Route:
        """A route that answers 401 without a valid token, else ``handler`` or ``response``."""

        async def side_effect(request: httpx.Request) -> httpx.Response:
            if not self.authorized(request):
                return httpx.Response(
                    401, json={"message": "Authorization has been denied for this request."}
                )
            if handler is not None:
                return await handler(request)
            return httpx.Response(**{"status_code": 200, **response})

        return self.router.request(method, path).mock(side_effect=side_effect)

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.router.async_handler)

    def client(self, **options: Any) -> Cloutility:
        settings: dict[str, Any] = {
            "client_id": CLIENT_ID,
            "origin": ORIGIN,
            "username": USERNAME,
            "password": PASSWORD,
            "base_url": BASE_URL,
            "transport": self.transport(),
            "backoff_base": 0.0,
        }
        settings.update(options)
        return Cloutility(**settings)
