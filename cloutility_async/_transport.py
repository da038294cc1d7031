"""The one place that sends: credentials, limits and retries, in layers.

A resource call hands the ``Sender`` a method and URL; the ``Sender`` adds
``Origin`` and the current bearer token (only for URLs on the configured
API's origin) and sends it through layers that each have one concern, the way
httpx's client does::

    send()                      retries, as the RetryPolicy decides
      _replaying_401()          one replay with a new token after a 401
        _following_redirects()  same-origin redirects only
          _attempt()            one exchange: a limiter slot, the token
                                current then, the transport

The redirect and 401 layers take the answer of the attempt below them and are
entered only for a status they handle, so a 2xx costs one await, as a single
loop would.

Errors are mapped once per boundary (``_mapping``): network failures in
``_attempt``, error statuses where retries end (refused grants in ``_auth``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import httpx

from ._concurrency import _cancellation_check
from ._exceptions import (
    APIError,
    ClientStateError,
    CloutilityError,
    DecodeError,
)
from ._exchanges import NetworkFailure, SenderStatistics, log_answer, read_encoded
from ._mapping import (
    certainly_unsent,
    encode_json,
    error_for_response,
    expect_string,
    transport_error,
    trim_transport_frames,
)
from ._records import log_event, redact_url
from ._requests import Call, PlainRequest, RequestBuilder
from ._responses import decode_error, decode_json, scrub
from ._retry import RetryPolicy, repeatable

if TYPE_CHECKING:
    from ._auth import Token, TokenManager
    from ._concurrency import Limiter
    from ._instrumentation import AttemptReport, Instrumentation

__all__ = [
    "RetryPolicy",
    "Sender",
    "SenderStatistics",
    "decode_error",
    "error_for_response",
    "expect_string",
    "same_origin",
]

logger = logging.getLogger("cloutility_async.http")

# Gateway failures: the server behind the gateway may have acted on the request.
MAYBE_PROCESSED_STATUSES = frozenset({502, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5

QueryParams = Mapping[str, Any] | Sequence[tuple[str, Any]]
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})  # a call's, when it adds none
T = TypeVar("T")


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    return url.scheme == base.scheme and url.host == base.host and url.port == base.port


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
        auth: Callable[..., TokenManager] | None = None,
        hooks: Instrumentation | None = None,
    ) -> None:
        self.transport = transport
        self._hooks = hooks  # None without hooks: an attempt then costs one check
        self.base_url = base_url
        self.limiter = limiter
        self.retry = retry
        # Asked for the current token; it sends its grants through us (``auth(send=)``).
        self.auth = None if auth is None else auth(send=self.send)
        self.closed = False
        self.stats = SenderStatistics()
        self._requests = RequestBuilder(
            origin=origin, user_agent=user_agent, timeout=timeout, api_url=base_url
        )
        # The SDK's aiohttp transport sends a body-less request to the API without an
        # httpx.Request (``PlainRequest``); every other transport gets httpx's.
        self._send_plain: Callable[[PlainRequest], Awaitable[httpx.Response]] | None = getattr(
            transport, "send_plain", None
        )
        self._origin = (base_url.scheme, base_url.host, base_url.port)
        # The running backend's cancellation check, looked up once (not sniffio per slot).
        self._check_cancelled = _cancellation_check()
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
        return (url.scheme, url.host, url.port) == self._origin  # same_origin(url, base_url)

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """Refuse every new exchange and wake every call that waits, now.

        Waiting calls (for a limiter slot, a token or a backoff) then raise
        ``ClientStateError``; calls in the transport fail when it is closed.
        """
        self.closed = True
        for scope in self._waits:
            scope.cancel()

    def token_manager(self) -> TokenManager:
        """The token manager this sender asks for tokens."""
        assert self.auth is not None
        return self.auth

    async def close_transport(self) -> None:
        """Close the transport, which aborts the exchanges on the wire; at most 10 s."""
        with anyio.move_on_after(10, shield=True):
            await self.transport.aclose()
            if await self.wait_drained():
                # A connection pool may have opened one for a request it had queued.
                await self.transport.aclose()

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

    # -- requests ----------------------------------------------------------------

    async def request_json(self, method: str, url: str | httpx.URL, **kwargs: Any) -> Any:
        """Send and decode a JSON body (None for an empty body)."""
        response = await self.send(method, url, **kwargs)
        return decode_json(response)

    decode_json = staticmethod(decode_json)

    def send(
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
        retry: RetryPolicy | None = None,
        timeouts: Mapping[str, float | None] | None = None,
    ) -> Coroutine[Any, Any, httpx.Response]:
        """Send one request with retries; return a 2xx response or raise.

        ``retry_safe`` says whether the request may be sent again after an attempt
        that may have reached the server; the route table gives it per route (a
        GET that changes state is not), and None takes the method's usual answer
        (GET, HEAD, OPTIONS, PUT and DELETE are). ``retry`` and ``timeouts`` (as
        ``httpx.Timeout.as_dict()``) replace the client's for this request.

        Not a coroutine function: it builds the call and returns ``_sending``'s
        coroutine, so that a request in flight holds no frame of these arguments.
        """
        call = self._call(method, url, params, json_body, content, stream, headers, retry)
        if timeouts is not None:
            call.timeout = timeouts
        call.retry_safe = repeatable(call.method, retry_safe)
        call.authenticated, call.limited = authenticated, limited
        return self._sending(call)

    async def _sending(self, call: Call) -> httpx.Response:
        """The retry layer: attempts of ``call`` until one succeeds or the policy says stop."""
        retry_number = 0
        maybe_done = False  # an earlier attempt may have reached the server and acted
        while True:
            error: CloutilityError | None = None
            try:  # a closed client raises ClientStateError right here, before anything is sent
                response, token = await self._attempt(call)
                if response.status_code >= 300:  # the layers for the statuses they handle
                    response, token = await self._following_redirects(call, response, token)
                    response, token = await self._replaying_401(call, response, token)
            except NetworkFailure as failed:
                error, never_sent, kind = failed.error, failed.never_sent, failed.kind
                dropped = failed.dropped
            retry_number += 1
            if error is not None:
                # Raised here, outside the `except`: nothing of httpx is chained to it.
                delay = self._delay_after_error(call, retry_number, never_sent, dropped)
                if delay is None:
                    raise error
                maybe_done = maybe_done or not never_sent
                why, status, cause = error.message, None, kind
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status == 404 and maybe_done and call.method == "DELETE":
                    return self._already_deleted(response)
                delay = self._delay_after_status(call, retry_number, response, token)
                maybe_done = maybe_done or status in MAYBE_PROCESSED_STATUSES
                why, cause = f"HTTP {status}", None
            await self._pause(delay, call, why, retry_number, status, cause)
            call.resend = "retry"

    def _call(
        self,
        method: str,
        url: str | httpx.URL,
        params: QueryParams | None,
        json_body: Any,
        content: bytes | None,
        stream: httpx.AsyncByteStream | None,
        headers: Mapping[str, str] | None,
        retry: RetryPolicy | None,
    ) -> Call:
        """The ``Call`` for ``send()``'s arguments: URL resolved, query merged, JSON encoded."""
        method = method if method.isupper() else method.upper()  # no copy of "GET" per call
        target = self.url(url)
        if params:
            target = target.copy_merge_params(cast("httpx.QueryParams", params))
        body: bytes | None = content
        extra_headers: Mapping[str, str] = dict(headers) if headers else _NO_HEADERS
        if json_body is not None:
            body = encode_json(json_body, method, target)
            typed = dict(extra_headers)
            typed.setdefault("Content-Type", "application/json; charset=utf-8")
            extra_headers = typed
        return Call(
            method, target, body, stream, extra_headers, retry or self.retry, self._requests.timeout
        )

    def _delay_after_error(
        self, call: Call, retry: int, never_sent: bool, dropped: bool
    ) -> float | None:
        if self.closed or call.stream is not None:  # a streamed body is spent
            return None
        if dropped and retry == 1 and call.retry_safe:
            # Closed before any answer, mostly a keep-alive race: sent again at once, as
            # HTTP clients do (RFC 9112, 9.3.1), but counted and seen by the hooks; the
            # transports send nothing twice themselves.
            return 0.0
        return call.policy.after_error(
            retry, method=call.method, retry_safe=call.retry_safe, never_sent=never_sent
        )

    def _delay_after_status(
        self, call: Call, retry: int, response: httpx.Response, token: Token | None
    ) -> float:
        """The policy's wait before retrying ``response``; where retries end, its error."""
        delay = (
            None
            if call.stream is not None
            else call.policy.after_status(
                retry,
                response.status_code,
                method=call.method,
                retry_safe=call.retry_safe,
                retry_after=response.headers.get("retry-after"),
            )
        )
        if delay is None:
            error = error_for_response(response)
            if token is None:
                raise error
            # The portal may quote the bearer sent, or the session's refresh token (a cookie).
            raise scrub(error, (token.access_token, token.refresh_token or ""))
        return delay

    def _already_deleted(self, response: httpx.Response) -> httpx.Response:
        """A DELETE whose earlier attempt may have deleted: its 404 means done."""
        self.stats.deletes_already_gone += 1
        log_event(  # the URL redacted, as in every record: a link may carry a credential
            logger,
            logging.INFO,
            "cloutility.delete_already_gone",
            "%(method)s %(url)s answered 404 after a retry; an earlier attempt deleted it",
            method="DELETE",
            url=redact_url(response.request.url),
        )
        return httpx.Response(204, request=response.request)

    async def _pause(
        self, delay: float, call: Call, why: str, retry: int, status: int | None, cause: str | None
    ) -> None:
        self.stats.retries += 1
        if self._hooks is not None:
            self._hooks.retry(call.method, call.url, retry, delay, status, cause)
        log_event(
            logger,
            logging.INFO,
            "cloutility.retry_scheduled",
            "%(method)s %(url)s after %(reason)s, waiting %(delay).3f s",
            method=call.method,
            url=redact_url(call.url),
            reason=why,
            delay=delay,
            retry=retry,
            status=status,
            error_type=cause,
        )
        await self._wait(partial(anyio.sleep, delay), call.method, call.url)

    async def _replaying_401(
        self, call: Call, response: httpx.Response, token: Token | None
    ) -> tuple[httpx.Response, Token | None]:
        """A 401 to the token sent: renew it (unless another renewal did) and send once more."""
        if (
            response.status_code == 401
            and token is not None
            and self.auth is not None
            and not call.replayed_401
            and call.stream is None
        ):
            call.replayed_401 = True
            self.stats.replays_after_401 += 1
            await self._wait(partial(self.auth.invalidate, token), call.method, call.url)
            call.resend = "replay_after_401"
            response, token = await self._attempt(call)
            response, token = await self._following_redirects(call, response, token)
        return response, token

    async def _following_redirects(
        self, call: Call, response: httpx.Response, token: Token | None
    ) -> tuple[httpx.Response, Token | None]:
        """Redirects within the API's origin, at most ``MAX_REDIRECTS`` in a send."""
        while (status := response.status_code) in REDIRECT_STATUSES:
            if call.stream is not None and status != 303:
                # The body was streamed once and is gone: it cannot be sent again.
                raise APIError(
                    "refusing to replay a streamed body on a redirect",
                    method=call.method,
                    url=str(call.url),
                    status=status,
                )
            call.url = self._redirect_target(response, call.redirects)
            call.redirects += 1
            if status == 303:
                call.method, call.body, call.stream = "GET", None, None
            call.resend = "redirect"
            response, token = await self._attempt(call)
        return response, token

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

    async def _attempt(self, call: Call) -> tuple[httpx.Response, Token | None]:
        """One exchange inside a limiter slot, with the token current when the slot is got.

        The exchange is awaited here, not in a coroutine of its own: a request in
        flight holds one frame of the sender's per layer. A network failure leaves
        as ``NetworkFailure``, mapped.
        """
        on_api = self.is_api_url(call.url)
        token = await self._slot_and_token(call, on_api)
        try:
            request = self._requests.for_call(  # no local of the bearer: frames show locals
                call,
                token.access_token if token is not None else None,
                on_api,
                plain=self._send_plain is not None,
            )
            report = self._opening(request, call)
            started = time.perf_counter()
            try:
                if type(request) is PlainRequest:  # the SDK's transports: no frame of _transmit
                    assert self._send_plain is not None
                    response = await self._send_plain(request)
                elif self._aborts_on_close:
                    response = await self._transmit(request)
                else:  # only close() can stop what is inside such a transport
                    response = await self._wait(
                        partial(self._transmit, request),
                        request.method,
                        request.url,
                        "the client closed during the request",
                    )
                if not response.is_stream_consumed:  # else read already (aiohttp, h11, mocks)
                    await read_encoded(response)
            except BaseException as exc:
                if not isinstance(exc, httpx.TransportError):  # mapped (and dropped) below
                    trim_transport_frames(exc)  # a cancellation, a body's own error
                if report is not None:
                    report.failed(exc)
                raise
            finally:
                self._closing(call.limited)
        except httpx.TransportError as exc:
            failure = self._network_failure(exc, call)
        else:
            if logger.isEnabledFor(logging.DEBUG):
                log_answer(request, response, started, call.attempts)
            if report is not None:
                report.answered(response.status_code)
            return response, token
        finally:
            if call.limited:
                self.limiter.release()
        raise failure

    async def _slot_and_token(self, call: Call, on_api: bool) -> Token | None:
        """A limiter slot (``call.limited``), then the token to send (None: none to send).

        The token is chosen after the slot, so a request that queued for a long
        time does not send a token that expired meanwhile; a request that must
        wait for a new token gives its slot back while it waits. On return the
        call holds its slot; on an exception it holds none.
        """
        auth = self.auth if call.authenticated and on_api else None
        held = False
        token = None
        try:
            if call.limited:
                await self._acquire(call)
                held = True
            if auth is not None:
                token = auth.usable_token()
                if token is None:
                    if held:
                        self.limiter.release()
                        held = False
                    fresh = await self._wait(auth.token, call.method, call.url)
                    if call.limited:
                        await self._acquire(call)
                        held = True
                    token = auth.usable_token() or fresh
        except BaseException:
            if held:
                self.limiter.release()
            raise
        return token

    async def _acquire(self, call: Call) -> None:
        # `async with limiter` yields to the event loop even when a slot is free; a free
        # slot is taken at once (after the same cancellation check), a busy one awaited.
        await self._check_cancelled()
        try:
            self.limiter.acquire_nowait()
        except anyio.WouldBlock:
            await self._wait(self.limiter.acquire, call.method, call.url)

    def _opening(self, request: httpx.Request | PlainRequest, call: Call) -> AttemptReport | None:
        """Count an exchange that starts now (none after ``close()``); tell the hooks.

        ``call.limited``: an API request, holding a slot of the limiter (so
        ``in_flight`` never exceeds the slots); else a grant, outside the limiter so
        that it never queues behind what waits for it.
        """
        if self.closed:  # checked last thing before the transport: nothing goes out after close
            raise ClientStateError(
                "the client is closed", method=request.method, url=str(request.url)
            )
        stats = self.stats
        if call.limited:
            stats.requests += 1
            stats.in_flight += 1
            if stats.in_flight > stats.peak_in_flight:
                stats.peak_in_flight = stats.in_flight
        else:
            stats.grants += 1
        self._exchanges += 1
        call.attempts += 1
        if self._hooks is None:
            return None
        return self._hooks.attempt_started(request.method, request.url, call.attempts, call.resend)

    def _closing(self, limited: bool) -> None:
        """An exchange ended (answered or not): uncount it; wake ``wait_drained()``."""
        if limited:
            self.stats.in_flight -= 1
        self._exchanges -= 1
        if self._drained is not None and not self._exchanges:
            self._drained.set()

    def _network_failure(self, exc: httpx.TransportError, call: Call) -> NetworkFailure:
        """What an exchange's network failure leaves ``_attempt`` as (``exc`` not kept)."""
        error = (
            ClientStateError(
                "the client closed during the request", method=call.method, url=str(call.url)
            )
            if self.closed
            else transport_error(exc, call.method, call.url)
        )
        return NetworkFailure(
            error,
            never_sent=certainly_unsent(exc),
            kind=type(exc).__name__,
            dropped=getattr(exc, "dropped", False) is True,
        )

    async def _transmit(self, request: httpx.Request | PlainRequest) -> httpx.Response:
        """The transport's response to ``request`` (perhaps unread); httpx errors pass."""
        assert isinstance(request, httpx.Request)
        undecodable: DecodeError | None = None
        try:
            response = await self.transport.handle_async_request(request)
            response.request = request
        except httpx.DecodingError as exc:  # decoded by the transport, before any response
            undecodable = DecodeError(
                f"the response body could not be decoded: {exc}",
                method=request.method,
                url=str(request.url),
            )
        if undecodable is not None:
            raise undecodable
        return response
