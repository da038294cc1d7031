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

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from aiohttp import hdrs
from multidict import CIMultiDict

from ._responses import response_from_body

__all__ = ["AiohttpTransport"]


# What aiohttp raises for a failed exchange (asyncio.TimeoutError is an OSError).
_AIOHTTP_ERRORS = (aiohttp.ClientError, OSError)


def _transport_error(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for one of aiohttp's (the first matching rule wins)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc) or "connect timeout", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(str(exc), request=request)
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

    def update_auto_headers(self, skip_auto_headers: object) -> None:
        if hdrs.ACCEPT not in self.headers:
            self.headers[hdrs.ACCEPT] = "*/*"


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests through one ``aiohttp.ClientSession`` (asyncio only)."""

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

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            enable_cleanup_closed=False,
        )
        # No cookie jar and no automatic decompression: httpx decodes bodies itself.
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            request_class=_Request,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            if self._closed:
                raise RuntimeError("this AiohttpTransport is closed")
            self._session = self._open_session()
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        data: Any
        source: _BodySource | None = None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            source = _BodySource(request.stream)  # type: ignore[arg-type]
            data = source.chunks()
            request.headers.pop("transfer-encoding", None)  # aiohttp chunks it itself
        if timeouts is self._timeouts:
            timeout = self._timeout  # the same settings as the last request
        else:
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=timeouts.get("pool"),
                sock_connect=timeouts.get("connect"),
                sock_read=timeouts.get("read"),
            )
            self._timeouts, self._timeout = timeouts, timeout
        self._convert_headers(request.headers)
        # One frame, no context manager: each coroutine of the chain stays alive (and
        # costs memory) for as long as its request is in flight.
        try:
            async with self._session.request(
                request.method,
                str(request.url),
                headers=self._headers,  # only read: aiohttp builds the request's own
                data=data,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                body = await response.read()
                return response_from_body(response.status, response.raw_headers, body, request)
        except _AIOHTTP_ERRORS as exc:
            if source is None or source.error is None:
                raise _transport_error(exc, request) from exc
        # The body's own error, raised outside the `except`: aiohttp's wrapper of it
        # (which holds the request) is not chained to it.
        raise source.error

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
