"""The h11 transport's backend and wires: what it reads and writes a connection through.

On trio, anyio's socket stream goes through trio's socket methods, which make every
call a full checkpoint: a send the kernel takes at once still yields to the scheduler
and comes back. For a plain TCP connection on trio the transport reads and writes the
(non-blocking) socket itself and waits with trio's ``wait_readable``/``wait_writable``
only when the kernel would block; those waits are where the exchange's cancel scope
(its timeouts, a cancellation) reaches it; TLS on trio runs over the same socket
calls (anyio's TLS stream over a ``DirectStream``). Other backends use anyio's
streams as they are. This module's name starts with the transport's, so that tracebacks
are trimmed of its frames as of the transport's (they hold the request's bytes).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, cast

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

__all__ = [
    "Backend",
    "DirectStream",
    "Scope",
    "SocketWire",
    "StreamWire",
    "Wire",
    "running_backend",
]

Wait = Callable[[Any], Awaitable[None]]


class Scope(AbstractContextManager[Any], Protocol):
    """The cancel scope of an exchange: anyio's, or on trio trio's own (the same API)."""

    deadline: float

    @property
    def cancelled_caught(self) -> bool: ...


class Wire(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def receive(self, size: int) -> bytes:
        """The next bytes; b"" at the end of the stream."""


class StreamWire:
    """anyio's byte stream (TLS, or a backend other than trio)."""

    __slots__ = ("stream",)

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def receive(self, size: int) -> bytes:
        try:
            return await self.stream.receive(size)
        except anyio.EndOfStream:
            return b""


class SocketWire:
    """A trio TCP connection's own non-blocking socket; trio's waits when it would block.

    A socket closed while a task waits on it (the transport's ``aclose()``) wakes the
    task with trio's ``ClosedResourceError``, raised here as anyio's. An exchange
    whose server answered before the first read never waited: that read yields
    once (trio's ``cancel_shielded_checkpoint``), so that every request is a
    schedule point, as trio's own socket calls are; a loop of requests to a fast
    server would otherwise starve every other task.
    """

    __slots__ = ("_closed", "_readable", "_shielded", "_writable", "_yielded", "sock")

    def __init__(self, sock: Any, backend: Backend) -> None:
        self.sock = sock
        assert backend.direct is not None
        self._readable, self._writable, self._closed, self._shielded = backend.direct
        self._yielded = False  # since this exchange's last send

    async def send(self, data: bytes) -> None:
        sock = self.sock
        view = memoryview(data)
        self._yielded = False
        try:
            while view:
                try:
                    sent: int = sock.send(view)
                except BlockingIOError:
                    await self._writable(sock)
                    continue
                view = view[sent:]
        except self._closed:
            raise anyio.ClosedResourceError from None

    async def receive(self, size: int) -> bytes:
        sock = self.sock
        try:
            while True:
                try:
                    data: bytes = sock.recv(size)
                except BlockingIOError:
                    await self._readable(sock)
                    self._yielded = True
                    continue
                if not self._yielded:  # the answer was in at once: yield all the same
                    self._yielded = True
                    await self._shielded()
                return data
        except self._closed:
            raise anyio.ClosedResourceError from None


class DirectStream(anyio.abc.ByteStream):
    """A trio TCP stream read and written through its socket (a ``SocketWire``): what
    anyio's TLS stream runs over on trio, so that TLS records skip trio's checkpoints too."""

    def __init__(self, stream: anyio.abc.ByteStream, wire: SocketWire) -> None:
        self._stream = stream
        self._wire = wire

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = await self._wire.receive(max_bytes)
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        await self._wire.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self._stream.extra_attributes


class Backend:
    """The running backend's clock and cancel scopes, and on trio its socket waits
    (``direct``), looked up once per transport: anyio's ``current_time()`` and
    ``CancelScope()`` ask sniffio on every call, and wrap trio's."""

    __slots__ = ("clock", "direct", "new_scope")

    def __init__(
        self,
        clock: Callable[[], float],
        new_scope: Callable[..., Scope],
        direct: tuple[Wait, Wait, type[Exception], Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self.clock = clock
        self.new_scope = new_scope
        self.direct = direct

    async def connect(
        self, host: str, port: int, tls: ssl.SSLContext | None
    ) -> tuple[anyio.abc.ByteStream, Wire]:
        """A new connection (TLS with ``tls``) and how it is read and written: as
        ``anyio.connect_tcp(host, port, ssl_context=tls, tls_hostname=host,
        tls_standard_compatible=False)`` would, on trio over the socket's own calls."""
        stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
        wire: Wire | None = None
        if self.direct is not None:
            sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)  # noqa: S610
            if sock is not None:
                wire = SocketWire(sock, self)
        if tls is None:
            return stream, wire or StreamWire(stream)
        under = stream if wire is None else DirectStream(stream, cast(SocketWire, wire))
        try:
            secure = await TLSStream.wrap(
                under, hostname=host, ssl_context=tls, standard_compatible=False
            )
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
        return secure, StreamWire(secure)


def running_backend() -> Backend:
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        low = trio.lowlevel
        direct = (low.wait_readable, low.wait_writable, trio.ClosedResourceError)
        return Backend(
            trio.current_time, trio.CancelScope, (*direct, low.cancel_shielded_checkpoint)
        )
    try:
        from anyio._core._eventloop import get_async_backend
    except ImportError:  # pragma: no cover - an anyio that moved it
        return Backend(anyio.current_time, anyio.CancelScope)
    backend = get_async_backend()
    return Backend(backend.current_time, backend.create_cancel_scope)
