"""The one place that sends: credentials, limits, retries and error mapping.

Data flows one way: a resource call hands the ``Sender`` a method and URL,
the ``Sender`` adds ``Origin`` and the current bearer token (only for URLs on
the configured API's origin), waits for a slot of the shared capacity
limiter, sends, retries what is safe to retry, and maps every failure to the
error tree in ``_exceptions``.

Errors are mapped at this boundary without keeping the lower-level exception:
an httpx or aiohttp error holds the request, with its ``Authorization``
header and, for a grant, the password or refresh token in its body. What
leaves here has no ``__cause__`` or ``__context__`` from below, and exceptions
that pass through unmapped (cancellation, an upload's own error) lose the
transport libraries' frames from their tracebacks, whose locals hold headers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import anyio.lowlevel
import attrs
import httpx

from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    CloutilityError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from ._responses import decode_error, decode_json, scrub

if TYPE_CHECKING:
    from ._auth import Token, TokenManager
    from ._concurrency import Limiter

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
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
# Gateway failures: the server behind the gateway may have acted on the request.
MAYBE_PROCESSED_STATUSES = frozenset({502, 504})
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
T = TypeVar("T")


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
    deletes_already_gone: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


def status_is_retried(status: int, method: str, retry_safe: bool) -> bool:
    """Whether an answer with ``status`` is worth another attempt: the one place that says so.

    429 says the request was not processed, so anything is retried. The rest
    only when the request is ``retry_safe`` (its route may be repeated after it
    may have arrived): 502, 503 and 504, and a 500 for a read, which changes
    nothing however often it is repeated.
    """
    if status == 429:
        return True
    if not retry_safe:
        return False
    return status in RETRY_STATUSES or (status == 500 and method in READ_METHODS)


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    return url.scheme == base.scheme and url.host == base.host and url.port == base.port


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """The (message, code) of any of the portal's error body shapes, or Nones.

    Shapes: OAuth ``{error, error_description}``, the portal's
    ``{status, code, message, developerMessage}``, ASP.NET's ``{message}``,
    a bare JSON string, and empty, HTML or unreadable bodies (no message).
    """
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, RecursionError):
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


def expect_string(data: Any, response: httpx.Response) -> str:
    """``data`` if the body was a bare JSON string (``fullVersion``, ``activate``)."""
    if not isinstance(data, str):
        raise decode_error("expected a JSON string", response)
    return data


def transport_error(exc: httpx.TransportError, method: str, url: httpx.URL) -> TransportError:
    """The ``TransportError`` for ``exc``, keeping its kind and message but not ``exc``.

    ``exc.request`` holds the headers and body that were sent. A
    ``LocalProtocolError`` is about the request itself, so its text (which can
    quote a header) is not kept.
    """
    if isinstance(exc, httpx.LocalProtocolError):
        message = "LocalProtocolError: the request could not be sent as built"
    else:
        text = str(exc)
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return TransportError(message, method=method, url=str(url))


# Modules whose frames hold requests with their headers and bodies in their locals.
_TRANSPORT_MODULES = (
    "httpx.",
    "httpcore.",
    "h11.",
    "aiohttp.",
    "multidict",
    "cloutility_async._aiohttp_transport",
    "cloutility_async._h11_transport",
)


def trim_transport_frames(exc: BaseException) -> None:
    """Splice the transport libraries' frames out of ``exc``'s traceback.

    For exceptions that pass through the transport unmapped (cancellation, an
    upload source's own error): error reporters that record frame locals
    (Sentry, ``traceback`` with ``capture_locals``) would ship the headers
    those frames hold. The caller's frames and the raising frame stay.
    """
    keep = exc.__traceback__
    while keep is not None and keep.tb_next is not None:
        below = keep.tb_next
        if below.tb_frame.f_globals.get("__name__", "").startswith(_TRANSPORT_MODULES):
            keep.tb_next = below.tb_next
        else:
            keep = below


def encode_json(body: Any, method: str, url: httpx.URL) -> bytes:
    """Compact UTF-8 JSON, or ``ValidationError`` before anything is sent."""
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    raise ValidationError(
        f"the request body cannot be sent as JSON ({problem})", method=method, url=str(url)
    )


async def _read_body(response: httpx.Response) -> None:
    """Read and decode the body, as ``response.aread()`` does.

    ``aread()`` decodes while it reads: a corrupt body stops it midway and
    leaves the stream's async generators unfinished, which trio reports as
    ``ResourceWarning``s. Here the raw bytes are read to the end first.
    """
    chunks: list[bytes] = []
    raw_chunks = cast("AsyncGenerator[bytes, None]", response.aiter_raw())
    async with contextlib.aclosing(raw_chunks) as raw:
        async for chunk in raw:
            chunks.append(chunk)
    body = b"".join(chunks)
    if "content-encoding" in response.headers:
        body = httpx.Response(200, headers=response.headers, content=body).content
    response._content = body


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
        limiter: Limiter,
        retry: RetryPolicy,
        timeout: httpx.Timeout,
        user_agent: str,
        auth: TokenManager | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self.limiter = limiter
        self.retry = retry
        self.auth = auth  # asked for the current token; it sends its grants through us
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
        # Calls waiting for a slot, a token or a backoff: close() wakes them.
        self._waits: set[anyio.CancelScope] = set()
        self._exchanges = 0  # inside the transport now, grants included
        self._drained: anyio.Event | None = None
        # Closing httpx's and our aiohttp transport ends the exchanges on the wire; any
        # other transport (a mock, a user's own) gets a cancel scope per exchange.
        self._aborts_on_close = isinstance(transport, httpx.AsyncHTTPTransport) or getattr(
            transport, "aborts_on_close", False
        )

    def url(self, url: str | httpx.URL) -> httpx.URL:
        """Resolve a path relative to ``base_url`` (absolute URLs pass through)."""
        if isinstance(url, httpx.URL):
            return url
        if url.startswith(("http://", "https://")):
            return httpx.URL(url)
        return self.base_url.join(url)

    def is_api_url(self, url: httpx.URL) -> bool:
        return same_origin(url, self.base_url)

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """Refuse every new exchange and wake every call that waits, now.

        Waiting calls (for a limiter slot, a token or a backoff) then raise
        ``ClientStateError``; calls in the transport fail when it is closed.
        """
        self.closed = True
        for scope in self._waits:
            scope.cancel()

    async def wait_drained(self) -> bool:
        """Wait until no exchange is inside the transport; True if any was."""
        if not self._exchanges:
            return False
        self._drained = anyio.Event()
        await self._drained.wait()
        return True

    async def _wait(
        self,
        call: Callable[[], Awaitable[T]],
        method: str,
        url: httpx.URL,
        closed_message: str = "the client closed while this call waited",
    ) -> T:
        """``await call()``, ended by ``close()`` with ``ClientStateError``."""
        if self.closed:
            raise ClientStateError("the client is closed", method=method, url=str(url))
        scope = anyio.CancelScope()
        self._waits.add(scope)
        try:
            with scope:
                return await call()
        finally:
            self._waits.discard(scope)
        # Only close() cancels this scope, and the scope absorbed that cancellation.
        raise ClientStateError(closed_message, method=method, url=str(url))

    # -- grants ------------------------------------------------------------------

    # -- requests ----------------------------------------------------------------

    async def request_json(self, method: str, url: str | httpx.URL, **kwargs: Any) -> Any:
        """Send and decode a JSON body (None for an empty body)."""
        response = await self.send(method, url, **kwargs)
        return self.decode_json(response)

    decode_json = staticmethod(decode_json)

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
        retry_safe: bool | None = None,
        limited: bool = True,
    ) -> httpx.Response:
        """Send one request with retries; return a 2xx response or raise.

        ``retry_safe`` says whether the request may be sent again after an attempt
        that may have reached the server; the route table gives it per route (a
        GET that changes state is not), and None takes the method's usual answer
        (GET, HEAD, OPTIONS, PUT and DELETE are). A request that is not is retried
        only when it certainly never left (or was answered 429).
        """
        method = method.upper()
        target = self.url(url)
        if params:
            target = target.copy_merge_params(cast("httpx.QueryParams", params))
        body: bytes | None = content
        extra_headers = dict(headers) if headers else {}
        if json_body is not None:
            body = encode_json(json_body, method, target)
            extra_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        safe_to_repeat = method in IDEMPOTENT_METHODS if retry_safe is None else retry_safe
        replayed_401 = False
        maybe_done = False  # an earlier attempt may have reached the server and acted
        redirects = 0
        attempt = 0
        while True:
            if self.closed:
                raise ClientStateError("the client is closed", method=method, url=str(target))
            failure: CloutilityError | None = None
            try:
                response, token = await self._attempt(
                    method, target, body, stream, extra_headers, authenticated, limited
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, NEVER_SENT)
                failure = (
                    ClientStateError(
                        "the client closed during the request", method=method, url=str(target)
                    )
                    if self.closed
                    else transport_error(exc, method, target)
                )
            if failure is not None:
                # Decided and raised outside the `except`, so nothing of httpx is chained.
                if (
                    not self.closed
                    and attempt < self.retry.max_retries
                    and (safe_to_repeat or never_sent)
                    and stream is None
                ):
                    maybe_done = maybe_done or not never_sent
                    attempt += 1
                    await self._pause(self.retry.backoff(attempt), method, target, failure.message)
                    continue
                raise failure
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
                await self._wait(partial(self.auth.invalidate, token), method, target)
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
            if status == 404 and method == "DELETE" and maybe_done:
                return self._already_deleted(response)
            if (
                attempt < self.retry.max_retries
                and stream is None
                and status_is_retried(status, method, safe_to_repeat)
            ):
                maybe_done = maybe_done or status in MAYBE_PROCESSED_STATUSES
                attempt += 1
                delay = (
                    self.retry.retry_after(response, attempt)
                    if status in (429, 503)
                    else self.retry.backoff(attempt)
                )
                await self._pause(delay, method, target, f"HTTP {status}")
                continue
            error = error_for_response(response)
            raise error if token is None else scrub(error, (token.access_token,))

    def _already_deleted(self, response: httpx.Response) -> httpx.Response:
        """A DELETE whose earlier attempt may have deleted: its 404 means done."""
        self.stats.deletes_already_gone += 1
        logger.info(
            "cloutility.delete_already_gone: %s answered 404 after a retry; "
            "an earlier attempt deleted it",
            response.request.url,
        )
        return httpx.Response(204, request=response.request)

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

    async def _acquire(self, method: str, url: httpx.URL) -> None:
        # `async with limiter` yields to the event loop even when a slot is free; a free
        # slot is taken at once (after the same cancellation check), a busy one awaited.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            self.limiter.acquire_nowait()
        except anyio.WouldBlock:
            await self._wait(self.limiter.acquire, method, url)

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
                await self._acquire(method, url)
                held = True
            token: Token | None = None
            if auth is not None:
                token = auth.usable_token()
                if token is None:
                    if held:
                        self.limiter.release()
                        held = False
                    fresh = await self._wait(auth.token, method, url)
                    if limited:
                        await self._acquire(method, url)
                        held = True
                    token = auth.usable_token() or fresh
            request = self._build(method, url, body, stream, extra_headers, token, on_api)
            return await self._exchange(request), token
        finally:
            if held:
                self.limiter.release()

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        if self.closed:  # checked last thing before the transport: nothing goes out after close
            raise ClientStateError(
                "the client is closed", method=request.method, url=str(request.url)
            )
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        if stats.in_flight > stats.peak_in_flight:
            stats.peak_in_flight = stats.in_flight
        self._exchanges += 1
        started = time.perf_counter()
        try:
            if self._aborts_on_close:
                response = await self._transmit(request)
            else:  # only close() can stop what is inside such a transport
                response = await self._wait(
                    partial(self._transmit, request),
                    request.method,
                    request.url,
                    "the client closed during the request",
                )
        finally:
            stats.in_flight -= 1
            self._exchanges -= 1
            if self._drained is not None and not self._exchanges:
                self._drained.set()
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

    async def _transmit(self, request: httpx.Request) -> httpx.Response:
        """The transport's response to ``request``, its body read; httpx errors pass."""
        undecodable: DecodeError | None = None
        try:
            response = await self.transport.handle_async_request(request)
            response.request = request
            if not response.is_stream_consumed:  # else read already (aiohttp, mocks)
                try:
                    await _read_body(response)
                except httpx.DecodingError as exc:  # a corrupt gzip body: not a network failure
                    undecodable = decode_error(
                        f"the response body could not be decoded: {exc}", response
                    )
                finally:
                    await response.aclose()
        except httpx.TransportError:
            raise  # mapped (and dropped) by send()
        except httpx.DecodingError as exc:  # decoded by the transport, before any response
            undecodable = DecodeError(
                f"the response body could not be decoded: {exc}",
                method=request.method,
                url=str(request.url),
            )
        except BaseException as exc:
            trim_transport_frames(exc)
            raise
        if undecodable is not None:
            raise undecodable
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
        await self._wait(partial(anyio.sleep, delay), method, url)
