"""An httpx transport over anyio sockets and h11, for speed on trio.

httpx's own pool (httpcore) costs about four times the SDK's asyncio CPU per
request on trio: a lock, a cancel scope and a trace context around every step of
every exchange. This transport does the same HTTP/1.1 with h11 (the parser
httpcore itself uses) in one pass: one cancel scope per exchange for its
timeouts, the whole body read before the response is returned, and the
connection back in the pool at once.

Errors map to httpx's with the rule the SDK's retries depend on: only a failure
to *get* a connection (``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``)
means "never sent". A pooled connection the server has closed is found before
the request is written (its socket reads as closed) and replaced. If one fails
anyway before a byte of the answer arrives, the error is marked ``dropped`` and
raised, and the pooled connections idle as long as it are closed: the transport
sends nothing twice. The sender decides: a request that may be repeated goes
again at once, counted and seen by the hooks (as after aiohttp's disconnect on
asyncio); ``GET .../activate``, a POST or a streamed body does not.
"""

from __future__ import annotations

import math
import select
import ssl
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, cast

import anyio
import anyio.abc
import h11
import httpx

from ._h11_transport_io import Backend, Scope, Wire, running_backend
from ._lazy_response import LazyResponse
from ._requests import PlainRequest
from ._responses import response_from_body

__all__ = ["H11Transport"]

Origin = tuple[str, str, int]  # scheme, host, port
# What is sent: httpx's request, or the sender's body-less one to the API (``send_plain``).
Sent = httpx.Request | PlainRequest

_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_SIZE = 64 * 1024
_MAX_HEAD = 100 * 1024  # largest response head h11 buffers (httpcore's figure)
_SOCKET_ERRORS = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
_poll = getattr(select, "poll", None)


class _Stale(Exception):
    """A reused connection failed before a byte of the answer: the server had closed it."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _WriteFailed(Exception):
    """The socket refused the request's bytes (not the request body's own error)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(_message(cause))


class _Connection:
    """One socket and its h11 state; ``reused`` once it has answered a request."""

    __slots__ = ("closed", "expires", "fd", "h11", "origin", "reused", "stream", "wire")

    def __init__(self, origin: Origin, stream: anyio.abc.ByteStream, wire: Wire) -> None:
        self.origin = origin
        self.stream = stream
        self.wire = wire  # what the exchanges read and write: the stream, or its socket
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)  # noqa: S610
        self.fd: int = raw.fileno() if raw is not None else -1
        self.reused = False
        self.closed = False
        self.expires = 0.0

    def looks_closed(self) -> bool:
        """True if the idle socket is readable: the server closed it (or sent garbage).

        An idle HTTP/1.1 connection has nothing to read; the check is httpcore's, with
        ``poll`` where there is one: ``select`` refuses a descriptor from 1024 on (a
        process with many files open), and every connection would look closed.
        """
        if self.fd < 0:
            return False
        try:
            if _poll is None:  # pragma: no cover - Windows
                return bool(select.select((self.fd,), (), (), 0)[0])
            poller = _poll()
            poller.register(self.fd, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True


@contextmanager
def _map_connect_errors(request: Sent) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:  # anyio.fail_after, or the kernel's connect timeout
        raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=_httpx(request)) from exc
    except (*_SOCKET_ERRORS, ssl.SSLError) as exc:
        raise httpx.ConnectError(_connect_message(exc), request=_httpx(request)) from exc


def _connect_message(exc: BaseException) -> str:
    """anyio's "All connection attempts failed", with what each attempt met (refused,
    unreachable...), which is in its cause: asyncio's message names it too."""
    message = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is None:
        return message
    causes = getattr(cause, "exceptions", None) or (cause,)  # one error, or a group of them
    return f"{message}: {'; '.join(str(c) or type(c).__name__ for c in causes)}"


def _httpx(request: Sent) -> httpx.Request:
    """The httpx request an error names (a plain request's built only now)."""
    return request.to_httpx() if type(request) is PlainRequest else cast(httpx.Request, request)


def _dropped(error: httpx.TransportError) -> httpx.TransportError:
    """``error`` marked as a connection closed before any answer: the sender may send
    a retry-safe request again at once, counted (as for aiohttp's disconnect)."""
    error.dropped = True  # type: ignore[attr-defined]
    return error


def _timeouts(request: Sent) -> Mapping[str, float | None]:
    """httpx's timeout extension of ``request``."""
    if type(request) is PlainRequest:
        return request.timeout
    timeouts: Mapping[str, float | None] = cast(httpx.Request, request).extensions.get(
        "timeout", {}
    )
    return timeouts


def _encoded(raw: list[tuple[bytes, bytes]]) -> bool:
    """Whether the answer's header lines have a Content-Encoding (a plain list: h11's
    Headers iterate through ``Sequence.__iter__``, an index lookup a line)."""
    return b"content-encoding" in [name.lower() for name, _ in raw]


def _message(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return str(cause) or type(cause).__name__


class H11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over ``anyio.connect_tcp`` and h11, with a keep-alive pool (any backend)."""

    # ``aclose()`` closes the connections in use too: the requests on them fail at once.
    aborts_on_close = True

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._in_use: set[_Connection] = set()
        self._count = 0  # connections open or being opened
        self._waiters: deque[anyio.Event] = deque()
        self._closed = False
        self._backend: Backend | None = None  # with the first connection
        # A plain request's header lines (one list per token) and h11's checked form of
        # them: h11 takes its own Headers as they are, without its regexes per line.
        self._plain_lines: list[tuple[bytes, bytes]] | None = None
        self._plain_headers: Any = None
        # A plain request's URL is on its builder's API origin (one tuple per client):
        # that tuple and the Origin parsed from the first URL on it.
        self._plain_origin: tuple[tuple[str, str] | None, Origin | None] = (None, None)

    # -- the pool ----------------------------------------------------------------

    async def _checkout(self, origin: Origin, request: Sent) -> _Connection:
        """An idle connection to ``origin`` that still looks open, or a new one."""
        while True:
            if self._closed:
                raise httpx.ConnectError("the transport was closed", request=_httpx(request))
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()  # the most recently used: the least likely closed
                if connection.expires > time.monotonic() and not connection.looks_closed():
                    self._in_use.add(connection)
                    return connection
                await self._close(connection)
            if self._count < self._max_connections:
                return await self._connect(origin, request)
            if not await self._close_an_idle_one():
                await self._wait_for_room(request)

    async def _connect(self, origin: Origin, request: Sent) -> _Connection:
        scheme, host, port = origin
        timeout = _timeouts(request).get("connect")
        self._count += 1
        try:
            if self._backend is None:
                self._backend = running_backend()
            with _map_connect_errors(request), anyio.fail_after(timeout):
                tls = self._tls_context() if scheme == "https" else None
                stream, wire = await self._backend.connect(host, port, tls)
        except BaseException:
            self._count -= 1
            self._wake_one()
            raise
        connection = _Connection(origin, stream, wire)
        if self._closed:  # closed while connecting: this socket must not outlive it
            await self._close(connection)
            raise httpx.ConnectError("the transport was closed", request=_httpx(request))
        self._in_use.add(connection)
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # httpx's default: certificate and host name verified, certifi's roots
            # (SSL_CERT_FILE / SSL_CERT_DIR honoured), as with httpx's own transport.
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    async def _close_an_idle_one(self) -> bool:
        """Make room by closing an idle connection to another origin; False if none."""
        for connections in self._idle.values():
            if connections:
                await self._close(connections.pop(0))
                return True
        return False

    async def _wait_for_room(self, request: Sent) -> None:
        """Wait until a connection closes or comes back, within the pool timeout."""
        timeout = _timeouts(request).get("pool")
        event = anyio.Event()
        self._waiters.append(event)
        woken = False
        try:
            with anyio.fail_after(timeout):
                await event.wait()
            woken = True
        except TimeoutError:
            raise httpx.PoolTimeout(
                "no connection became free in time", request=_httpx(request)
            ) from None
        finally:
            if not woken:  # (a woken event was popped by _wake_one)
                if event.is_set():  # woken, then cancelled: the room goes to the next one
                    self._wake_one()
                else:
                    self._waiters.remove(event)

    def _wake_one(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()

    async def _close(self, connection: _Connection) -> None:
        """Close ``connection`` (whatever the caller's cancellation) and free its place."""
        if connection.closed:
            return
        connection.closed = True
        self._in_use.discard(connection)
        self._count -= 1
        self._wake_one()
        # Shielded: closing a socket waits for nothing, and a cancellation raised here
        # would chain the one on its way, whose frames hold the request's headers.
        with anyio.CancelScope(shield=True):
            await connection.stream.aclose()

    async def _close_idle_since(self, dropped: _Connection) -> None:
        """Close the idle connections to ``dropped``'s origin that have been idle as long
        as it had: a server's keep-alive timeout that closed it closed them too, and
        the sender's resend should not find one of them in its turn."""
        idle = self._idle.get(dropped.origin)
        while idle and idle[0].expires <= dropped.expires:  # oldest first
            await self._close(idle.pop(0))

    async def _check_in(self, connection: _Connection) -> None:
        """Back to the pool if its exchange ended cleanly and it stays open, else closed."""
        state = connection.h11
        if (
            self._closed
            or state.our_state is not h11.DONE
            or state.their_state is not h11.DONE
            or state.trailing_data[0]  # bytes beyond the answer: out of step
        ):
            await self._close(connection)
            return
        state.start_next_cycle()
        connection.reused = True
        connection.expires = time.monotonic() + self._keepalive_expiry
        self._in_use.discard(connection)
        self._idle.setdefault(connection.origin, []).append(connection)
        self._wake_one()

    # -- one request ---------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = None  # a stream: sent as it is read, so it can be sent only once
        return await self._handle(request, body)

    def send_plain(self, request: PlainRequest) -> Coroutine[Any, Any, httpx.Response]:
        """Send the sender's body-less request to the API without an ``httpx.Request``;
        answered by a ``LazyResponse``. Not a coroutine function: the request in
        flight has one frame of this method, ``_handle``'s."""
        return self._handle(request, b"")

    async def _handle(self, request: Sent, body: bytes | None) -> httpx.Response:
        if self._closed:
            raise RuntimeError("this H11Transport is closed")
        origin = self._origin(request)
        connection = await self._checkout(origin, request)
        try:
            response = await self._exchange(connection, request, body)
        except _Stale as stale:
            await self._close(connection)
            await self._close_idle_since(connection)
            raise _dropped(stale.error) from None
        except BaseException:  # a cancellation too: the exchange stopped midway
            await self._close(connection)
            raise
        await self._check_in(connection)
        return response

    async def _exchange(
        self, connection: _Connection, request: Sent, body: bytes | None
    ) -> httpx.Response:
        """Write ``request`` and read the whole answer, within the request's timeouts.

        One cancel scope for both timeouts: its deadline is the write timeout while
        the request goes out, then the read timeout again before each read.
        """
        request_head = self._head(request)
        timeouts = _timeouts(request)
        write_timeout = timeouts.get("write")
        reading = False
        answer: tuple[h11.Response, bytes] | None = None
        backend = self._backend
        assert backend is not None  # (set with the first connection)
        clock = backend.clock
        # The write's deadline given to the scope as it is made: on trio each deadline
        # set on a scope is one context manager more (its deadline registration).
        deadline = math.inf if write_timeout is None else clock() + write_timeout
        with backend.new_scope(deadline=deadline) as scope:
            write_error = await _write(connection.h11, connection.wire, request, body, request_head)
            reading = True
            if write_timeout is not None and timeouts.get("read") is None:
                scope.deadline = math.inf  # no read timeout: the write's ended with the write
            reader = _Reader(connection, request, scope, timeouts.get("read"), write_error, clock)
            answer = await reader.read()
        if scope.cancelled_caught:
            if reading:
                raise httpx.ReadTimeout("timed out reading the response", request=_httpx(request))
            raise httpx.WriteTimeout("timed out writing the request", request=_httpx(request))
        if answer is None:  # the write failed and the server said nothing
            assert write_error is not None
            if connection.reused:
                raise _Stale(write_error)
            raise write_error
        head, content = answer
        raw = head.headers.raw_items()
        extensions = {"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason}
        if type(request) is PlainRequest and not _encoded(raw):
            return LazyResponse(head.status_code, raw, content, request, extensions)
        return response_from_body(head.status_code, raw, content, _httpx(request), extensions)

    def _origin(self, request: Sent) -> Origin:
        if type(request) is PlainRequest:
            api, origin = self._plain_origin
            if request.origin is api and origin is not None:
                return origin
            origin = _origin(request)
            self._plain_origin = (request.origin, origin)
            return origin
        return _origin(request)

    def _head(self, request: Sent) -> h11.Request:
        """h11's request head; a plain request's lines are checked once per token."""
        try:
            if type(request) is PlainRequest:
                lines = request.raw_lines
                if lines is not self._plain_lines:
                    checked = _h11_request(request, lines)
                    self._plain_lines, self._plain_headers = lines, checked.headers
                    return checked
                return _h11_request(request, self._plain_headers)
            return _h11_request(request, cast(httpx.Request, request).headers.raw)
        except h11.LocalProtocolError as exc:  # a bad header, say
            raise httpx.LocalProtocolError(str(exc), request=_httpx(request)) from exc

    async def aclose(self) -> None:
        """Close every connection, those in use too; never reopen."""
        self._closed = True
        connections = [c for idle in self._idle.values() for c in idle]
        connections += self._in_use
        self._idle.clear()
        for connection in connections:
            await self._close(connection)
        while self._waiters:
            self._wake_one()


def _h11_request(request: Sent, headers: Any) -> h11.Request:
    return h11.Request(
        method=request.method.encode("ascii"), target=request.url.raw_path, headers=headers
    )


def _origin(request: Sent) -> Origin:
    """``(scheme, host, port)`` of the request's URL; only http and https are spoken."""
    url = request.url
    scheme = url.scheme
    if scheme not in _DEFAULT_PORTS:
        raise httpx.UnsupportedProtocol(
            f"the URL's scheme must be http or https, not {scheme!r}", request=_httpx(request)
        )
    if not url.raw_host:
        raise httpx.UnsupportedProtocol("the URL has no host", request=_httpx(request))
    return scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[scheme]


async def _write(
    state: h11.Connection,
    wire: Wire,
    request: Sent,
    body: bytes | None,
    head_event: h11.Request,
) -> httpx.WriteError | None:
    """Send the request (a body in memory in one write); the socket's failure, if any.

    A failed write is returned, not raised: the server may have answered before it
    stopped reading (a 413, say), and that answer is read, as httpcore does. An
    error of a streamed body's own source (a file that shrank) passes as it is.
    """
    try:
        head = state.send(head_event)
        if body is None:
            await _send(wire, head)
            source = cast(httpx.AsyncByteStream, cast(httpx.Request, request).stream)
            chunks = aiter(source)
            try:
                async for chunk in chunks:
                    if chunk:
                        await _send(wire, state.send(h11.Data(data=chunk)))
            finally:  # a write stopped midway: no suspended generator left to the GC
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
            await _send(wire, state.send(h11.EndOfMessage()))
        else:
            data = head + state.send(h11.Data(data=body)) if body else head
            await _send(wire, data + state.send(h11.EndOfMessage()))
    except _WriteFailed as exc:
        return httpx.WriteError(str(exc), request=_httpx(request))
    except h11.LocalProtocolError as exc:  # h11 refused what we send (a body too long)
        raise httpx.LocalProtocolError(str(exc), request=_httpx(request)) from exc
    return None


async def _send(wire: Wire, data: bytes) -> None:
    try:
        await wire.send(data)
    except _SOCKET_ERRORS as exc:
        raise _WriteFailed(exc) from None


class _Reader:
    """Reads one answer off a connection after its request went out.

    A failure before any byte of the answer on a reused connection is ``_Stale``:
    the server had closed it, and the caller may send an idempotent request again.
    After a failed write, the end of the stream with nothing read means "no answer"
    (``read()`` returns None) and the write's error is the one that counts.
    """

    __slots__ = (
        "clock",
        "connection",
        "read_timeout",
        "received",
        "request",
        "scope",
        "write_error",
    )

    def __init__(
        self,
        connection: _Connection,
        request: Sent,
        scope: Scope,
        read_timeout: float | None,
        write_error: httpx.WriteError | None,
        clock: Callable[[], float],
    ) -> None:
        self.connection = connection
        self.request = request
        self.scope = scope
        self.read_timeout = read_timeout
        self.write_error = write_error
        self.received = False  # any byte of the answer
        self.clock = clock  # the backend's anyio.current_time

    async def read(self) -> tuple[h11.Response, bytes] | None:
        """The answer's head and whole body (Content-Length, chunked or until close)."""
        state = self.connection.h11
        chunks: list[bytes] = []
        head: h11.Response | None = None
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                if self.write_error is not None and not self.received:
                    return None
                raise httpx.RemoteProtocolError(str(exc), request=_httpx(self.request)) from exc
            if event is h11.NEED_DATA:
                data = await self._receive()
                if data is None:
                    return None
                state.receive_data(data)
            elif type(event) is h11.Data:
                chunks.append(event.data)
            elif type(event) is h11.Response:
                head = event
            elif type(event) is h11.EndOfMessage:
                assert head is not None
                # bytes, as httpx's content is: h11 hands data over as bytearrays (the
                # join of one exact bytes object returns it, of a bytearray copies it).
                return head, b"".join(chunks)
            elif event is h11.PAUSED:  # a 101 or a CONNECT's 2xx: not HTTP/1.1 any more
                raise httpx.RemoteProtocolError(
                    "the server switched protocols", request=_httpx(self.request)
                )
            # InformationalResponse (100 Continue): read on

    async def _receive(self) -> bytes | None:
        """The next bytes (b"" at the end of the stream), within the read timeout."""
        if self.read_timeout is not None:
            self.scope.deadline = self.clock() + self.read_timeout
        try:
            data = await self.connection.wire.receive(_READ_SIZE)
        except _SOCKET_ERRORS as exc:
            if self.write_error is not None and not self.received:
                return None
            self._fail(httpx.ReadError(_message(exc), request=_httpx(self.request)))
        if not data and not self.received:
            if self.write_error is not None:
                return None
            self._fail(
                httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=_httpx(self.request)
                )
            )
        self.received = True
        return data

    def _fail(self, error: httpx.TransportError) -> NoReturn:
        if not self.received and self.connection.reused:
            raise _Stale(error) from None
        raise error from None
