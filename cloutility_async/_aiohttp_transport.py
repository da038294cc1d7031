"""An httpx transport that sends through aiohttp, for speed on asyncio.

httpx's own pool spends milliseconds of CPU per request at high concurrency
(encode/httpx#3215); aiohttp's connector does not. This transport keeps the
httpx request/response types and maps aiohttp's errors with one rule that
matters for retries: only a failure to *establish* a connection becomes
``httpx.ConnectError``/``ConnectTimeout`` ("never sent"). A connection that
drops after the request may have been written becomes a read or protocol
error ("maybe sent"), so a POST is never replayed because of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any
from urllib.parse import SplitResult

import aiohttp
import httpx
from aiohttp import hdrs
from multidict import CIMultiDict
from yarl import URL

from ._lazy_response import LazyResponse
from ._requests import PlainRequest
from ._responses import response_from_body

__all__ = ["AiohttpTransport"]


# What aiohttp raises for a failed exchange (asyncio.TimeoutError is an OSError).
_AIOHTTP_ERRORS = (aiohttp.ClientError, OSError)


def _transport_error(exc: Exception, source: httpx.Request | PlainRequest) -> httpx.TransportError:
    """The httpx error for one of aiohttp's (the first matching rule wins); it names
    an httpx.Request, as httpx's own transports' errors do (a plain one's built now)."""
    request = source if isinstance(source, httpx.Request) else source.to_httpx()
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc) or "connect timeout", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # Closed before the answer: mostly a keep-alive connection the server closed as
        # the request went out. The sender sends a retry-safe request again at once.
        dropped = httpx.RemoteProtocolError(str(exc), request=request)
        dropped.dropped = True  # type: ignore[attr-defined]
        return dropped
    if isinstance(exc, (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError, TimeoutError)):
        return httpx.ReadTimeout(str(exc) or "read timeout", request=request)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.ReadError(str(exc), request=request)
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(str(exc), request=request)
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(str(exc), request=request)
    return httpx.ReadError(str(exc) or type(exc).__name__, request=request)


class _BodySource:
    """Feeds a request stream to aiohttp and keeps the stream's own error.

    aiohttp wraps an exception raised by the body it is sending into a
    connection error; the caller must see the original (e.g. "the file
    shrank"), as it does with httpx's transport on trio.
    """

    __slots__ = ("error", "stream")

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self.stream = stream
        self.error: Exception | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.stream:
                yield chunk
        except Exception as exc:
            self.error = exc
            raise


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, adding no automatic header but ``Accept``.

    What ``skip_auto_headers=("User-Agent", "Accept-Encoding")`` does, without the
    copies of the skip list and of the headers that it makes per request: httpx's
    request carries every header that should go out.
    """

    def update_headers(self, headers: Any) -> None:
        # Headers that start with Host (every request the SDK builds but a streamed
        # one) are what aiohttp's loop makes of them: copied in one call.
        if type(headers) is CIMultiDict and headers and next(iter(headers)).lower() == "host":
            self.headers = headers.copy()
        else:
            super().update_headers(headers)

    def update_auto_headers(self, skip_auto_headers: object) -> None:
        if hdrs.ACCEPT not in self.headers:
            self.headers[hdrs.ACCEPT] = "*/*"


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests through one ``aiohttp.ClientSession`` (asyncio only).

    ``send_plain`` sends the sender's body-less requests to the API without an
    ``httpx.Request``: from their header lines and URL straight to aiohttp's
    types, answered by a ``LazyResponse``.
    """

    # ``aclose()`` closes the connections in use too: the requests on them fail at once.
    aborts_on_close = True

    def __init__(self, *, max_connections: int = 100, keepalive_expiry: float = 15.0) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: Any = None
        self._timeout = aiohttp.ClientTimeout()
        # The last request's headers, as bytes and as aiohttp takes them: most requests
        # send the same ones (the client's, with one token), converted once.
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._headers: CIMultiDict[str] = CIMultiDict()
        # The same for the header lines of plain requests (one tuple per token).
        self._lines: tuple[tuple[str, str], ...] = ()
        self._line_headers: CIMultiDict[str] = CIMultiDict()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this AiohttpTransport is closed")
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            enable_cleanup_closed=False,
        )
        # No cookie jar and no automatic decompression: httpx decodes bodies itself.
        self._session = session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            request_class=_Request,
        )
        # aiohttp sends an idempotent-method request once more when its connection drops
        # before the answer, unseen by the retry policy, its statistics and hooks:
        # GET .../activate too. The policy, which knows the routes, decides instead.
        if hasattr(session, "_retry_connection"):  # private: absent elsewhere, no resend
            session._retry_connection = False
        return session

    def send_plain(self, request: PlainRequest) -> Coroutine[Any, Any, httpx.Response]:
        """Send a body-less request to the API (its URL on its origin, ``request.origin``).

        Not a coroutine function: it returns ``_exchange``'s coroutine, so that
        the request in flight has one frame of this transport, not two.
        """
        scheme, netloc = request.origin
        path, _, query = request.url.raw_path.decode("ascii").partition("?")
        # httpx's URL is already encoded: aiohttp sends it as it is, without re-parsing.
        url = URL(SplitResult(scheme, netloc, path, query, ""), encoded=True)
        lines = request.lines
        if lines is not self._lines:
            self._lines, self._line_headers = lines, CIMultiDict(lines)
        timeout = self._timeout_for(request.timeout)
        return self._exchange(request.method, url, self._line_headers, None, timeout, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        data: Any
        source: _BodySource | None = None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            source = _BodySource(request.stream)  # type: ignore[arg-type]
            data = source.chunks()
            request.headers.pop("transfer-encoding", None)  # aiohttp chunks it itself
        timeout = self._timeout_for(request.extensions.get("timeout", {}))
        self._convert_headers(request.headers)
        try:
            return await self._exchange(
                request.method,
                URL(str(request.url), encoded=True),
                self._headers,
                data,
                timeout,
                request,
            )
        except httpx.TransportError:
            if source is None or source.error is None:
                raise
        # The body's own error, raised outside the `except`: aiohttp's wrapper of it
        # (which holds the request) is not chained to it.
        raise source.error

    def _timeout_for(self, timeouts: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        """aiohttp's timeouts for httpx's timeout extension (kept while it repeats)."""
        if timeouts is not self._timeouts:
            self._timeout = aiohttp.ClientTimeout(
                total=None,
                connect=timeouts.get("pool"),
                sock_connect=timeouts.get("connect"),
                sock_read=timeouts.get("read"),
            )
            self._timeouts = timeouts
        return self._timeout

    async def _exchange(
        self,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        data: Any,
        timeout: aiohttp.ClientTimeout,
        source: httpx.Request | PlainRequest,
    ) -> httpx.Response:
        """One exchange, its body read whole; aiohttp's errors mapped (see the module).

        Awaits the request itself, not its context manager: each coroutine of the
        chain stays alive (and costs memory and a step per wake-up) for as long
        as its request is in flight.
        """
        try:
            response = await (self._session or self._open_session()).request(
                method,
                url,
                headers=headers,  # only read: aiohttp builds the request's own
                data=data,
                allow_redirects=False,
                timeout=timeout,
            )
            if data is None:
                body = await response.read()  # which releases or closes the connection
            else:
                try:
                    body = await response.read()
                finally:  # as its context manager does: the body's writer stops first
                    response.release()
                    await response.wait_for_close()
        except _AIOHTTP_ERRORS as exc:
            raise _transport_error(exc, source) from exc
        if type(source) is PlainRequest and hdrs.CONTENT_ENCODING not in response.headers:
            return LazyResponse(response.status, response.raw_headers, body, source)
        request = source if isinstance(source, httpx.Request) else source.to_httpx()
        return response_from_body(response.status, response.raw_headers, body, request)

    def _convert_headers(self, headers: httpx.Headers) -> None:
        """Make ``self._headers`` aiohttp's copy of ``headers`` (kept while they repeat).

        A method of its own, so that no list of them stays alive in the frame of a
        request in flight."""
        raw = headers.raw
        if raw != self._raw_headers:
            self._raw_headers, self._headers = raw, CIMultiDict(headers.multi_items())

    async def aclose(self) -> None:
        self._closed = True  # never reopen: a late request must not leak a new session
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
