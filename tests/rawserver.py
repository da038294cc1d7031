"""A tiny HTTP/1.1 server on 127.0.0.1 that answers from a handler, for the default transports.

The respx portal never opens a socket; this one does, so that the SDK's default
transports (aiohttp on asyncio, h11 on trio) really connect, read, time out and
see connections dropped. A handler answers each request with a ``Reply``,
``DROP`` (close the connection without a byte), ``STALL`` (never answer; wait
until the client hangs up) or ``Raw`` (bytes sent as they are, for framing a
``Reply`` does not write: chunked, close-delimited, broken). Every request is
recorded with the time its head arrived, and the server counts its open
connections (and their peak).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import anyio
import attrs
from anyio.abc import ByteStream, SocketAttribute, TaskGroup
from anyio.streams.tls import TLSListener

__all__ = ["DROP", "STALL", "Action", "Raw", "RawServer", "Received", "Reply", "wait_until"]


@attrs.frozen
class Received:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    at: float  # anyio.current_time() when its head had arrived
    head: bytes = b""  # the request line and headers exactly as they came

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@attrs.frozen
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(data).encode())

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} X"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@attrs.frozen
class Raw:
    """The answer's bytes exactly; with ``close``, the connection is closed after them."""

    data: bytes
    close: bool = False


DROP = "drop"
STALL = "stall"
Action = Reply | Raw | str
Handler = Callable[[Received], Awaitable[Action]]


class _Connection:
    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def _fill(self) -> bool:
        try:
            self.buffer += await self.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    async def read_until(self, marker: bytes) -> bytes | None:
        while marker not in self.buffer:
            if not await self._fill():
                return None
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    async def read_exactly(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            if not await self._fill():
                return None
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    async def read_body(self, headers: dict[str, str]) -> bytes | None:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = await self.read_until(b"\r\n")
                if size_line is None:
                    return None
                size = int(size_line.split(b";")[0], 16)
                chunk = await self.read_exactly(size + 2)
                if chunk is None:
                    return None
                if size == 0:
                    return body
                body += chunk[:-2]
        return await self.read_exactly(int(headers.get("content-length", "0")))

    async def wait_for_hangup(self) -> None:
        while await self._fill():
            pass


async def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> bool:
    """Poll ``condition`` (state other tasks change) every 10 ms for up to ``limit`` s."""
    for _ in range(int(limit * 100)):
        if condition():
            return True
        await anyio.sleep(0.01)
    return condition()


class RawServer:
    """``async with RawServer(handler) as server:`` serves ``server.base_url``.

    With ``ssl_context`` it speaks HTTPS (``tests/fixtures/tls`` has a certificate
    for 127.0.0.1).
    """

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.received: list[Received] = []
        self.open_connections = 0
        self.peak_open_connections = 0
        self.connections = 0
        self.base_url = ""
        self._task_group: TaskGroup | None = None

    async def __aenter__(self) -> RawServer:
        tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = tcp.extra(SocketAttribute.local_port)
        listener: anyio.abc.Listener[ByteStream] = tcp
        if self.ssl_context is not None:
            listener = TLSListener(tcp, self.ssl_context, standard_compatible=False)
        scheme = "http" if self.ssl_context is None else "https"
        self.base_url = f"{scheme}://127.0.0.1:{port}/v1/"
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._listen, listener)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        return await self._task_group.__aexit__(exc_type, exc, tb)

    async def _listen(self, listener: anyio.abc.Listener[ByteStream]) -> None:
        async with listener:
            await listener.serve(self._serve)

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.endswith(path)]

    async def wait_all_closed(self, limit: float = 5.0) -> int:
        """Wait (up to ``limit`` seconds) until every connection is closed; the number open."""
        await wait_until(lambda: not self.open_connections, limit)
        return self.open_connections

    async def _serve(self, stream: ByteStream) -> None:
        self.open_connections += 1
        self.peak_open_connections = max(self.peak_open_connections, self.open_connections)
        self.connections += 1
        connection = _Connection(stream)
        try:
            while True:
                head = await connection.read_until(b"\r\n\r\n")
                if head is None:
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                at = anyio.current_time()
                body = await connection.read_body(headers)
                if body is None:
                    return
                received = Received(method, target, headers, body, at, head)
                self.received.append(received)
                action = await self.handler(received)
                if action == DROP:
                    return
                if action == STALL:
                    await connection.wait_for_hangup()
                    return
                if isinstance(action, Raw):
                    await stream.send(action.data)
                    if action.close:
                        return
                    continue
                assert isinstance(action, Reply)
                await stream.send(action.encode())
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            self.open_connections -= 1
            with anyio.CancelScope(shield=True):
                await stream.aclose()
