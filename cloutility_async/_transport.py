"""The one place that sends: credentials, limits, retries and error mapping.

Data flows one way: a resource call hands the ``Sender`` a method and URL,
the ``Sender`` adds ``Origin`` and the current bearer token (only for URLs on
the configured API's origin), waits for a slot of the shared capacity
limiter, sends, retries what is safe to retry, and maps every failure to the
error tree in ``_exceptions``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.lowlevel
import attrs
import httpx

from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)

if TYPE_CHECKING:
    from ._auth import Token, TokenManager

__all__ = [
    "RetryPolicy",
    "Sender",
    "decode_error",
    "error_for_response",
    "expect_string",
    "same_origin",
]

logger = logging.getLogger("cloutility_async.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
# Failures where the request certainly never left this process.
NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
MAX_REDIRECTS = 5
# Methods for which httpx.Request adds ``Content-Length: 0`` to a body-less request.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NO_BODY = httpx.ByteStream(b"")

QueryParams = Mapping[str, Any] | Sequence[tuple[str, Any]]


@attrs.frozen
class RetryPolicy:
    """How many times and how long to retry (exponential backoff, full jitter)."""

    max_retries: int = 3
    backoff_base: float = 0.2
    backoff_max: float = 10.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))  # noqa: S311

    def retry_after(self, response: httpx.Response, attempt: int) -> float:
        """The server's ``Retry-After`` (seconds or HTTP date), capped; else backoff.

        A value that is neither (``soon``) falls back to backoff, never raises.
        """
        value = response.headers.get("retry-after", "").strip()
        seconds = -1.0
        if value:
            try:
                seconds = float(value)
            except ValueError:
                try:
                    moment = email.utils.parsedate_to_datetime(value)
                except (TypeError, ValueError, IndexError):
                    moment = None
                if moment is not None:
                    if moment.tzinfo is None:
                        moment = moment.replace(tzinfo=dt.timezone.utc)
                    seconds = moment.timestamp() - time.time()
        if math.isfinite(seconds) and seconds >= 0:
            return min(seconds, self.max_retry_after)
        return self.backoff(attempt)


@attrs.define
class SenderStatistics:
    """Counters for observing the transport (see ``Cloutility.statistics``)."""

    requests: int = 0
    retries: int = 0
    replays_after_401: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    return url.scheme == base.scheme and url.host == base.host and url.port == base.port


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """The (message, code) of any of the portal's error body shapes, or Nones.

    Shapes: OAuth ``{error, error_description}``, the portal's
    ``{status, code, message, developerMessage}``, ASP.NET's ``{message}``,
    a bare JSON string, and empty or HTML bodies (no message).
    """
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        return None, None
    if isinstance(body, str):
        return body or None, None
    if not isinstance(body, Mapping):
        return None, None
    message = next(
        (
            value
            for key in ("error_description", "message", "developerMessage", "error")
            if isinstance(value := body.get(key), str) and value
        ),
        None,
    )
    code = body.get("error") if isinstance(body.get("error"), str) else body.get("code")
    return message, str(code) if code is not None else None


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_for_response(response: httpx.Response) -> APIError:
    """Map an error response to a typed error naming method, URL and status."""
    status = response.status_code
    server_message, code = _error_body(response)
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else APIError)
    return cls(
        server_message or response.reason_phrase or f"HTTP {status}",
        code=code,
        method=response.request.method,
        url=str(response.request.url),
        status=status,
        server_message=server_message,
    )


def decode_error(message: str, response: httpx.Response) -> DecodeError:
    """A DecodeError naming the method, URL and status of ``response``."""
    return DecodeError(
        message,
        method=response.request.method,
        url=str(response.request.url),
        status=response.status_code,
    )


def expect_string(data: Any, response: httpx.Response) -> str:
    """``data`` if the body was a bare JSON string (``fullVersion``, ``activate``)."""
    if not isinstance(data, str):
        raise decode_error("expected a JSON string", response)
    return data


def _redact(headers: httpx.Headers) -> dict[str, str]:
    return {k: ("Bearer ***" if k.lower() == "authorization" else v) for k, v in headers.items()}


class Sender:
    """Sends requests for one client; shared by every resource proxy."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport,
        base_url: httpx.URL,
        origin: str,
        limiter: anyio.CapacityLimiter,
        retry: RetryPolicy,
        timeout: httpx.Timeout,
        user_agent: str,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self.limiter = limiter
        self.retry = retry
        self.auth: TokenManager | None = None
        self.closed = False
        self.stats = SenderStatistics()
        self._timeout_ext = timeout.as_dict()
        self._base_headers = {
            "Origin": origin,
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        # The headers of a body-less request, built once per (bearer, host): what
        # httpx.Request would build (Host first), so each request only copies them.
        self._plain_key: tuple[str | None, bytes] | None = None
        self._plain_headers = httpx.Headers()

    def url(self, url: str | httpx.URL) -> httpx.URL:
        """Resolve a path relative to ``base_url`` (absolute URLs pass through)."""
        if isinstance(url, httpx.URL):
            return url
        if url.startswith(("http://", "https://")):
            return httpx.URL(url)
        return self.base_url.join(url)

    def is_api_url(self, url: httpx.URL) -> bool:
        return same_origin(url, self.base_url)

    async def grant(self, form: Mapping[str, str], *, bearer: str | None) -> Any:
        """POST a form to ``oauth``; a refused grant raises ``AuthenticationError``."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            response = await self.send(
                "POST",
                "oauth",
                content=str(httpx.QueryParams(dict(form))).encode(),
                headers=headers,
                authenticated=False,
                # A grant creates nothing: retrying it is always safe.
                idempotent=True,
                # Nor does it queue behind the requests that wait for it.
                limited=False,
            )
        except BadRequestError as exc:
            raise AuthenticationError(
                exc.message,
                code=exc.code,
                method=exc.method,
                url=exc.url,
                status=exc.status,
                server_message=exc.server_message,
            ) from None
        return self.decode_json(response)

    async def request_json(self, method: str, url: str | httpx.URL, **kwargs: Any) -> Any:
        """Send and decode a JSON body (None for an empty body)."""
        response = await self.send(method, url, **kwargs)
        return self.decode_json(response)

    @staticmethod
    def decode_json(response: httpx.Response) -> Any:
        content = response.content
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError:
            kind = response.headers.get("content-type", "unknown content type")
            raise decode_error(
                f"expected JSON, got {kind} ({len(content)} bytes)", response
            ) from None

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: QueryParams | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        stream: httpx.AsyncByteStream | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        idempotent: bool | None = None,
        limited: bool = True,
    ) -> httpx.Response:
        """Send one request with retries; return a 2xx response or raise."""
        method = method.upper()
        target = self.url(url)
        if params:
            target = target.copy_merge_params(cast("httpx.QueryParams", params))
        body: bytes | None = content
        extra_headers = dict(headers) if headers else {}
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
            extra_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        replayed_401 = False
        redirects = 0
        attempt = 0
        while True:
            if self.closed:
                raise ClientStateError("the client is closed", method=method, url=str(target))
            try:
                response, token = await self._attempt(
                    method, target, body, stream, extra_headers, authenticated, limited
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, NEVER_SENT)
                if (
                    attempt < self.retry.max_retries
                    and (safe_to_repeat or never_sent)
                    and stream is None
                ):
                    attempt += 1
                    await self._pause(self.retry.backoff(attempt), method, target, repr(exc))
                    continue
                raise TransportError(
                    f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                    method=method,
                    url=str(target),
                ) from exc
            status = response.status_code
            if status < 300:
                return response
            if (
                status == 401
                and token is not None
                and self.auth is not None
                and not replayed_401
                and stream is None
            ):
                replayed_401 = True
                self.stats.replays_after_401 += 1
                await self.auth.invalidate(token)
                continue
            if status in (301, 302, 303, 307, 308):
                if stream is not None and status != 303:
                    # The body was streamed once and is gone: it cannot be sent again.
                    raise APIError(
                        "refusing to replay a streamed body on a redirect",
                        method=method,
                        url=str(target),
                        status=status,
                    )
                target = self._redirect_target(response, redirects)
                redirects += 1
                if status == 303:
                    method, body, stream = "GET", None, None
                continue
            if (
                attempt < self.retry.max_retries
                and stream is None
                and (status == 429 or (status in RETRY_STATUSES and safe_to_repeat))
            ):
                attempt += 1
                delay = (
                    self.retry.retry_after(response, attempt)
                    if status in (429, 503)
                    else self.retry.backoff(attempt)
                )
                await self._pause(delay, method, target, f"HTTP {status}")
                continue
            raise error_for_response(response)

    def _build(
        self,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        stream: httpx.AsyncByteStream | None,
        extra_headers: dict[str, str],
        token: Token | None,
        on_api: bool,
    ) -> httpx.Request:
        if (
            on_api
            and body is None
            and stream is None
            and not extra_headers
            and method not in _BODY_METHODS
        ):
            return self._build_plain(method, url, token.access_token if token else None)
        headers = dict(self._base_headers)
        headers.update(extra_headers)
        if not on_api:
            # Credentials (and the Origin they belong to) never leave the API's origin.
            headers.pop("Authorization", None)
            headers.pop("Origin", None)
        elif token is not None:
            headers["Authorization"] = f"Bearer {token.access_token}"
        if stream is not None:
            # httpx adds no default headers to a request built from a stream, not even Host.
            headers.setdefault("Host", url.netloc.decode("ascii"))
        request = httpx.Request(method, url, headers=headers, content=body, stream=stream)
        request.extensions["timeout"] = self._timeout_ext
        return request

    def _build_plain(self, method: str, url: httpx.URL, bearer: str | None) -> httpx.Request:
        """A body-less request, equal to what ``_build`` makes through ``httpx.Request``'s
        own header preparation (Host first, no Content-Length), at a fraction of its cost."""
        key = (bearer, url.netloc)
        if key != self._plain_key:
            fields = dict(self._base_headers)
            if bearer is not None:
                fields["Authorization"] = f"Bearer {bearer}"
            # httpx encodes str headers as ASCII, and puts the Host it adds first.
            headers = [(b"Host", url.netloc)] if url.host else []
            headers += [(k.encode("ascii"), v.encode("ascii")) for k, v in fields.items()]
            self._plain_headers = httpx.Headers(headers)
            self._plain_key = key
        request = httpx.Request(
            method,
            url,
            headers=self._plain_headers,
            stream=_NO_BODY,
            extensions={"timeout": self._timeout_ext},
        )
        request.read()  # an empty body, read: as httpx.Request(content=None) leaves it
        return request

    async def _acquire(self) -> None:
        # `async with limiter` yields to the event loop even when a slot is free; a free
        # slot is taken at once (after the same cancellation check), a busy one awaited.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            self.limiter.acquire_nowait()
        except anyio.WouldBlock:
            await self.limiter.acquire()

    async def _attempt(
        self,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        stream: httpx.AsyncByteStream | None,
        extra_headers: dict[str, str],
        authenticated: bool,
        limited: bool,
    ) -> tuple[httpx.Response, Token | None]:
        """One exchange inside a limiter slot, with the token current when the slot is got.

        The token is chosen after the slot, so a request that queued for a long
        time does not send a token that expired meanwhile; a request that must
        wait for a new token gives its slot back while it waits.
        """
        on_api = self.is_api_url(url)
        auth = self.auth if authenticated and on_api else None
        held = False
        try:
            if limited:
                await self._acquire()
                held = True
            token: Token | None = None
            if auth is not None:
                token = auth.usable_token()
                if token is None:
                    if held:
                        self.limiter.release()
                        held = False
                    fresh = await auth.token()
                    if limited:
                        await self._acquire()
                        held = True
                    token = auth.usable_token() or fresh
            request = self._build(method, url, body, stream, extra_headers, token, on_api)
            return await self._exchange(request), token
        finally:
            if held:
                self.limiter.release()

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        if stats.in_flight > stats.peak_in_flight:
            stats.peak_in_flight = stats.in_flight
        started = time.perf_counter()
        try:
            response = await self.transport.handle_async_request(request)
            response.request = request
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.DecodingError as exc:  # e.g. a corrupt gzip body: not a network failure
            raise DecodeError(
                f"the response body could not be decoded: {exc}",
                method=request.method,
                url=str(request.url),
            ) from exc
        finally:
            stats.in_flight -= 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "cloutility.request: %s %s -> %d in %.1f ms headers=%s",
                request.method,
                request.url,
                response.status_code,
                (time.perf_counter() - started) * 1000,
                _redact(request.headers),
            )
        return response

    def _redirect_target(self, response: httpx.Response, redirects: int) -> httpx.URL:
        location = response.headers.get("location")
        request = response.request
        target = request.url.join(location) if location else None
        if target is None or redirects >= MAX_REDIRECTS or not self.is_api_url(target):
            raise APIError(
                "refusing to follow a redirect to another origin"
                if target is not None and not self.is_api_url(target)
                else "too many or invalid redirects",
                method=request.method,
                url=str(request.url),
                status=response.status_code,
            )
        return target

    async def _pause(self, delay: float, method: str, url: httpx.URL, why: str) -> None:
        self.stats.retries += 1
        logger.info(
            "cloutility.retry_scheduled: %s %s after %s, waiting %.3f s", method, url, why, delay
        )
        await anyio.sleep(delay)
