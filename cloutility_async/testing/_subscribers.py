"""Billing subscribers: the portal's POST to a subscriber's "Post URL".

The portal (a .NET ``HttpClient``) sends the head with ``Expect: 100-continue``,
waits up to a second for an interim answer, sends the body after ``100 Continue``
(or when the wait is over) and never after a final answer.  :func:`post_notification`
does the same over a plain TCP stream (``anyio.connect_tcp``, so it runs on asyncio
and trio).  Only ``http://`` URLs on loopback are accepted: the simulator never
talks to other hosts.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

import anyio
from anyio.abc import ByteStream

__all__ = [
    "NOTIFICATION_TRIGGER",
    "TEST_TRIGGER",
    "BillingSubscriber",
    "SubscriberTestResult",
    "check_subscriber_url",
    "post_notification",
]

TEST_TRIGGER = "test for new billing data available"
NOTIFICATION_TRIGGER = "new billing data available"

_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
_SAFE_PATH = "/:@!$&'()*+,;=%~"
_SAFE_QUERY = _SAFE_PATH + "?"
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


@dataclass(frozen=True, slots=True)
class BillingSubscriber:
    """A subscriber added under Reseller Business Unit -> Settings -> Billing -> Subscribers."""

    id: int
    bunit_id: int
    post_url: str


@dataclass(frozen=True, slots=True)
class SubscriberTestResult:
    """What the subscriber answered to one notification.

    ``status`` is the final status code (``0`` when there was no final answer, see
    ``error``); ``continued`` whether ``100 Continue`` arrived; ``sent_body`` whether the
    JSON body was sent (after ``100 Continue`` or after the wait, never after a final
    answer); ``body`` the final answer's body (at most 1 MiB is kept).
    """

    status: int
    continued: bool
    sent_body: bool
    body: bytes
    error: str | None = None


def _loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _LOOPBACK_V4
    return address == _LOOPBACK_V6


def check_subscriber_url(url: str) -> SplitResult:
    """The split URL if it is ``http://`` on a loopback host; ValueError otherwise."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        raise ValueError(f"only http:// subscriber URLs are supported, got {url!r}")
    host = parts.hostname
    if not host or not _loopback_host(host):
        raise ValueError(
            f"the simulator only posts to loopback hosts (127.0.0.0/8, localhost, ::1), got {url!r}"
        )
    _ = parts.port  # raises ValueError for a bad port
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        # Non-ASCII text is percent-encoded in the request line; these are refused.
        raise ValueError(f"the URL contains whitespace or control characters: {url!r}")
    return parts


def notification_body(trigger: str) -> bytes:
    """The compact JSON body ``{"trigger":"..."}`` (UTF-8)."""
    return json.dumps({"trigger": trigger}, separators=(",", ":"), ensure_ascii=False).encode()


def _request_head(parts: SplitResult, body: bytes) -> bytes:
    target = quote(parts.path or "/", safe=_SAFE_PATH)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE_QUERY)
    host = parts.netloc.rpartition("@")[2]
    return (
        f"POST {target} HTTP/1.1\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Host: {host}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode("ascii")


class _Reader:
    """Reads HTTP/1.1 response heads and bodies from a byte stream."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.eof = False

    async def _more(self) -> None:
        try:
            self.buffer += await self.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            self.eof = True
            raise ConnectionError("the subscriber closed the connection") from None

    async def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > _MAX_HEAD:
                raise ConnectionError("the subscriber's answer head is too large")
            await self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(code), headers

    async def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    async def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > _MAX_HEAD:
                raise ConnectionError("a chunk size line is too long")
            await self._more()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    async def body(self, status: int, headers: dict[str, str]) -> bytes:
        if status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._chunked()
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise ConnectionError(f"bad Content-Length {length!r}")
            size = int(length)
            data = await self._exactly(min(size, _MAX_BODY))
            return data
        # No length: the body runs to the end of the connection.
        while not self.eof and len(self.buffer) < _MAX_BODY:
            try:
                await self._more()
            except ConnectionError:
                break
        data, self.buffer = self.buffer[:_MAX_BODY], b""
        return data

    async def _chunked(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            raw = (await self._line()).split(b";", 1)[0].strip()
            try:
                chunk = int(raw, 16)
            except ValueError:
                raise ConnectionError(f"bad chunk size {raw[:20]!r}") from None
            if chunk == 0:
                while await self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            data = await self._exactly(chunk + 2)
            if size < _MAX_BODY:
                parts.append(data[: min(chunk, _MAX_BODY - size)])
                size += chunk


async def _final_answer(reader: _Reader) -> tuple[int, dict[str, str], bool]:
    """The next final (non-1xx) head; the flag tells whether a ``100 Continue`` came first."""
    continued = False
    while True:
        status, headers = await reader.head()
        if status >= 200 or status == 101:
            return status, headers, continued
        continued = continued or status == 100


async def post_notification(
    url: str,
    trigger: str,
    *,
    expect_timeout: float = 1.0,
    answer_timeout: float = 10.0,
) -> SubscriberTestResult:
    """POST ``{"trigger": trigger}`` to ``url`` the way the portal does.

    Raises:
        ValueError: the URL is not ``http://`` on a loopback host.
        OSError: the connection failed or closed before a final answer
            (``ConnectionError``), or ``answer_timeout`` seconds passed (``TimeoutError``).
    """
    parts = check_subscriber_url(url)
    if not isinstance(trigger, str):
        raise TypeError(f"trigger must be a string, got {type(trigger).__name__}")
    if not expect_timeout >= 0:
        raise ValueError(f"expect_timeout must be >= 0, got {expect_timeout!r}")
    body = notification_body(trigger)
    head = _request_head(parts, body)
    host = parts.hostname
    assert host is not None
    port = parts.port if parts.port is not None else 80
    with anyio.fail_after(answer_timeout):
        async with await anyio.connect_tcp(host, port) as stream:
            reader = _Reader(stream)
            try:
                await stream.send(head)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise ConnectionError("the subscriber closed the connection") from None
            continued = False
            final: tuple[int, dict[str, str]] | None = None
            with anyio.move_on_after(expect_timeout):
                while True:
                    status, headers = await reader.head()
                    if status == 100:
                        continued = True
                        break
                    if status >= 200 or status == 101:
                        final = (status, headers)
                        break
                    # Another interim answer (102, 103): keep waiting.
            sent_body = False
            if final is None:
                try:
                    await stream.send(body)
                    sent_body = True
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass  # the subscriber may still have answered: read it below
                status, headers, late = await _final_answer(reader)
                continued = continued or late
                final = (status, headers)
            status, headers = final
            answer = await reader.body(status, headers)
    return SubscriberTestResult(status, continued, sent_body, answer)
