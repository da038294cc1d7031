"""The client: options, ``async with`` lifecycle, and the API's entry points."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import anyio
import attrs
import httpx
import sniffio

from ._auth import Credentials, Token, TokenHook, TokenManager
from ._exceptions import ClientStateError, ConfigurationError, DecodeError
from ._transport import RetryPolicy, Sender
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "ClientStatistics", "Cloutility"]

logger = logging.getLogger("cloutility_async")

DEFAULT_BASE_URL = "https://portal-api.backup.sto2.safedc.net/v1/"
ENV_VARS = {
    "client_id": "CLOUTILITY_CLIENT_ID",
    "origin": "CLOUTILITY_ORIGIN",
    "username": "CLOUTILITY_USERNAME",
    "password": "CLOUTILITY_PASSWORD",
}


@attrs.frozen
class ClientStatistics:
    """A snapshot of what the client has done, for monitoring and benchmarks."""

    requests: int
    retries: int
    replays_after_401: int
    in_flight: int
    peak_in_flight: int
    password_grants: int
    refresh_grants: int
    refresh_refused: int
    proactive_refreshes: int
    token_waits: int


def _require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string")
    return value


def _check_http_url(name: str, value: object) -> httpx.URL:
    text = _require_text(name, value)
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError(f"{name} is not a valid URL: {text!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{name} must be an http(s) URL with a host, got {text!r}")
    return url


def _positive(name: str, value: Any, *, allow_zero: bool = False, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        kind = "whole number" if integer else "number"
        raise ConfigurationError(f"{name} must be a {kind}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


class Cloutility:
    """An async client for the Cloutility REST API.

    Use it as ``async with Cloutility(...) as api:``. Entering logs in with
    the password grant and starts a background task that renews the token
    ahead of expiry; leaving stops it and closes every connection. All
    requests share one capacity limiter of ``max_concurrency`` slots.
    """

    def __init__(
        self,
        *,
        client_id: str,
        origin: str,
        username: str,
        password: str,
        base_url: str = DEFAULT_BASE_URL,
        max_concurrency: int = 16,
        max_retries: int = 3,
        timeout: float = 30.0,
        refresh_margin: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        on_token: TokenHook | None = None,
        backoff_base: float = 0.2,
        max_retry_after: float = 60.0,
    ) -> None:
        self._credentials = Credentials(
            client_id=_require_text("client_id", client_id),
            username=_require_text("username", username),
            password=_require_text("password", password),
        )
        origin_url = _check_http_url("origin", origin)
        self._origin = origin.rstrip("/") if origin_url.path in ("", "/") else origin
        url = _check_http_url("base_url", base_url)
        if url.query or url.fragment:
            raise ConfigurationError(
                f"base_url must not have a query or fragment, got {base_url!r}"
            )
        if not url.path.endswith("/"):
            url = url.copy_with(path=url.path + "/")
        self._base_url = url
        self._max_concurrency: int = _positive("max_concurrency", max_concurrency, integer=True)
        self._retry = RetryPolicy(
            max_retries=_positive("max_retries", max_retries, allow_zero=True, integer=True),
            backoff_base=_positive("backoff_base", backoff_base, allow_zero=True),
            max_retry_after=_positive("max_retry_after", max_retry_after, allow_zero=True),
        )
        self._timeout = httpx.Timeout(_positive("timeout", timeout))
        self._refresh_margin: float = _positive("refresh_margin", refresh_margin, allow_zero=True)
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise ConfigurationError("transport must be an httpx.AsyncBaseTransport")
        self._transport_option = transport
        self._on_token = on_token
        self._sender: Sender | None = None
        self._auth: TokenManager | None = None
        self._stack: AsyncExitStack | None = None
        self._closed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Cloutility:
        """Build a client from ``CLOUTILITY_*`` variables; ``options`` override them.

        Reads ``CLOUTILITY_CLIENT_ID``, ``CLOUTILITY_ORIGIN``, ``CLOUTILITY_USERNAME``,
        ``CLOUTILITY_PASSWORD`` and, optionally, ``CLOUTILITY_BASE_URL``.

        Raises:
            ConfigurationError: naming the first missing variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for option, var in ENV_VARS.items():
            if option in options:
                continue
            value = env.get(var, "")
            if not value.strip():
                raise ConfigurationError(f"environment variable {var} is not set")
            values[option] = value
        base_url = env.get("CLOUTILITY_BASE_URL", "").strip()
        if base_url and "base_url" not in options:
            values["base_url"] = base_url
        values.update(options)
        return cls(**values)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._sender else "new"
        return (
            f"<Cloutility base_url={str(self._base_url)!r}"
            f" client_id={self._credentials.client_id!r}"
            f" username={self._credentials.username!r} {state}>"
        )

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> Cloutility:
        if self._stack is not None or self._closed:
            raise ClientStateError("a Cloutility client can be entered only once")
        stack = AsyncExitStack()
        self._stack = stack
        try:
            transport = self._transport_option or self._default_transport()
            stack.push_async_callback(self._close_transport, transport)
            sender = Sender(
                transport=transport,
                base_url=self._base_url,
                origin=self._origin,
                limiter=anyio.CapacityLimiter(self._max_concurrency),
                retry=self._retry,
                timeout=self._timeout,
                user_agent=f"cloutility-async/{__version__}",
            )
            auth = TokenManager(
                sender=sender,
                credentials=self._credentials,
                origin=self._origin,
                refresh_margin=self._refresh_margin,
                on_token=self._on_token,
            )
            sender.auth = auth
            self._sender, self._auth = sender, auth
            await auth.login()
            task_group = await stack.enter_async_context(anyio.create_task_group())
            task_group.start_soon(auth.run_refresher, name="cloutility-token-refresher")
            stack.callback(task_group.cancel_scope.cancel)
        except BaseException:
            self._closed = True
            with anyio.CancelScope(shield=True):
                await stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the refresher and close every connection (idempotent).

        The body's own exception is not handed to the task group: it would come
        back wrapped in an ExceptionGroup, and it is the caller's to see as is.
        """
        stack, self._stack = self._stack, None
        self._closed = True
        if stack is not None:
            await stack.aclose()

    def _default_transport(self) -> httpx.AsyncBaseTransport:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = "asyncio"
        if library == "asyncio":
            from ._aiohttp_transport import AiohttpTransport

            return AiohttpTransport(max_connections=self._max_concurrency)
        limits = httpx.Limits(
            max_connections=self._max_concurrency, max_keepalive_connections=self._max_concurrency
        )
        return httpx.AsyncHTTPTransport(limits=limits, retries=0)

    @staticmethod
    async def _close_transport(transport: httpx.AsyncBaseTransport) -> None:
        with anyio.move_on_after(10, shield=True):
            await transport.aclose()

    # -- plumbing the resource proxies use -------------------------------------

    @property
    def base_url(self) -> httpx.URL:
        return self._base_url

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def token(self) -> Token | None:
        """The current token (its repr hides the secrets), or None before login."""
        return None if self._auth is None else self._auth.current

    def _require_sender(self) -> Sender:
        if self._sender is None or self._closed:
            raise ClientStateError(
                "the client is not open: use 'async with Cloutility(...) as api:'"
            )
        return self._sender

    async def _get_json(self, path: str | httpx.URL, **kwargs: Any) -> Any:
        return await self._require_sender().request_json("GET", path, **kwargs)

    async def _request_json(self, method: str, path: str | httpx.URL, **kwargs: Any) -> Any:
        return await self._require_sender().request_json(method, path, **kwargs)

    async def _request(self, method: str, path: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self._require_sender().send(method, path, **kwargs)

    def statistics(self) -> ClientStatistics:
        """Counters of requests, retries and grants since the client was entered."""
        sender = self._require_sender()
        assert self._auth is not None
        s, t = sender.stats, self._auth.stats
        return ClientStatistics(
            requests=s.requests,
            retries=s.retries,
            replays_after_401=s.replays_after_401,
            in_flight=s.in_flight,
            peak_in_flight=s.peak_in_flight,
            password_grants=t.password_grants,
            refresh_grants=t.refresh_grants,
            refresh_refused=t.refresh_refused,
            proactive_refreshes=t.proactive_refreshes,
            token_waits=t.waits,
        )

    # -- API -------------------------------------------------------------------

    async def full_version(self) -> str:
        """The portal's full version string (``GET fullVersion``)."""
        sender = self._require_sender()
        response = await sender.send("GET", "fullVersion")
        body = sender.decode_json(response)
        if not isinstance(body, str):
            raise DecodeError(
                "expected a JSON string",
                method="GET",
                url=str(response.request.url),
                status=response.status_code,
            )
        return body
