"""H11Transport against a real loopback server on both backends: pool, framing, timeouts, errors.

The client uses it by default on trio only, but it is plain anyio, so every
behaviour here is pinned on asyncio as well.
"""

from __future__ import annotations

import gc
import gzip
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from cloutility_async._h11_transport import H11Transport
from cloutility_async._requests import RequestBuilder
from tests.rawserver import DROP, STALL, Action, Raw, RawServer, Received, Reply, wait_until

pytestmark = pytest.mark.anyio

Handler = Callable[[Received], Awaitable[Action]]
TLS = Path(__file__).parent / "fixtures" / "tls"  # a self-signed certificate for 127.0.0.1

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)


def answering(*actions: Action) -> Handler:
    """A handler that answers with ``actions`` in turn, then with ``Reply(body=b"ok")``."""
    queue = list(actions)

    async def handler(received: Received) -> Action:
        return queue.pop(0) if queue else Reply(body=b"ok")

    return handler


def first_two_together(handler: Handler) -> Handler:
    """``handler``, but the first two requests wait for each other: two connections open."""
    arrived = 0
    both = anyio.Event()

    async def gated(received: Received) -> Action:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both.set()
        if arrived <= 2:
            await both.wait()
        return await handler(received)

    return gated


def client_of(server: RawServer, timeout: float = 5.0, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=H11Transport(**options), base_url=server.base_url, timeout=timeout
    )


def resource_warnings() -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def test_sequential_requests_share_one_keep_alive_connection() -> None:
    """Three GETs in a row go over one connection, each answer read whole."""
    async with RawServer(answering()) as server, client_of(server) as client:
        for _ in range(3):
            response = await client.get("ping")
            assert (response.status_code, response.content) == (200, b"ok")
    assert server.connections == 1


async def test_concurrent_requests_never_open_more_than_max_connections() -> None:
    """Six requests at once through max_connections=2 use two connections, and all finish."""

    async def handler(received: Received) -> Action:
        return Reply(body=received.path.encode())

    results: list[bytes] = []
    server = RawServer(first_two_together(handler))
    async with server, client_of(server, max_connections=2) as client:

        async def get(n: int) -> None:
            results.append((await client.get(f"n{n}")).content)

        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(get, n)
    assert sorted(results) == [f"/v1/n{n}".encode() for n in range(6)]
    assert (server.connections, server.peak_open_connections) == (2, 2)


async def test_an_answer_is_bytes_as_httpx_gives_not_h11s_bytearray() -> None:
    """h11 hands data over as bytearrays: a body in one piece or in several, through
    httpx or the sender's plain path, is ``bytes`` (hashable, ``isinstance(.., bytes)``)."""
    async with RawServer(answering(Reply(body=b"small"), Raw(CHUNKED))) as server:
        async with client_of(server) as client:
            one, chunked = await client.get("a"), await client.get("b")
        builder = RequestBuilder(
            origin="https://app.example",
            user_agent="ua",
            timeout=httpx.Timeout(5.0),
            api_url=httpx.URL(server.base_url),
        )
        transport = H11Transport()
        try:
            plain = await transport.send_plain(
                builder.plain("GET", httpx.URL(server.base_url + "c"), "tok", builder.timeout)
            )
        finally:
            await transport.aclose()
    assert (one.content, chunked.content, plain.content) == (b"small", b"hello world", b"ok")
    assert [type(r.content) for r in (one, chunked, plain)] == [bytes, bytes, bytes]


async def test_a_chunked_answer_is_read_whole_and_its_connection_reused() -> None:
    """A chunked body arrives joined, and the connection serves the next request."""
    async with RawServer(answering(Raw(CHUNKED))) as server, client_of(server) as client:
        assert (await client.get("a")).content == b"hello world"
        assert (await client.get("b")).content == b"ok"
    assert server.connections == 1


async def test_an_answer_delimited_by_close_is_read_to_the_end_and_not_reused() -> None:
    """A body without length runs until the server closes; the next request reconnects."""
    raw = Raw(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close=True)
    async with RawServer(answering(raw)) as server, client_of(server) as client:
        assert (await client.get("a")).content == b"until the end"
        assert (await client.get("b")).content == b"ok"
    assert server.connections == 2


async def test_connection_close_from_the_server_is_honoured() -> None:
    """An answer with ``Connection: close`` is the last on its connection."""
    reply = Reply(body=b"bye", headers=(("Connection", "close"),))
    async with RawServer(answering(reply)) as server, client_of(server) as client:
        assert (await client.get("a")).content == b"bye"
        assert await server.wait_all_closed() == 0  # closed by the client, not left idle
        assert (await client.get("b")).content == b"ok"
    assert server.connections == 2


async def test_a_head_answer_has_no_body_and_keeps_the_connection() -> None:
    """HEAD's Content-Length describes a body that is not sent; the connection stays usable."""
    raw = Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    async with RawServer(answering(raw)) as server, client_of(server) as client:
        response = await client.head("a")
        assert (response.headers["content-length"], response.content) == ("5", b"")
        assert (await client.get("b")).content == b"ok"
    assert server.connections == 1


async def test_a_body_in_memory_and_a_streamed_body_arrive_whole() -> None:
    """Bytes go with Content-Length, an async iterable chunked; the server reads both whole."""

    async def parts() -> AsyncIterator[bytes]:
        yield b"first,"
        yield b""
        yield b"second"

    async with RawServer(answering()) as server, client_of(server) as client:
        await client.post("sized", content=b"x" * 70_000)
        await client.post("streamed", content=parts())
    sized, streamed = server.received
    assert (sized.headers["content-length"], sized.body) == ("70000", b"x" * 70_000)
    assert (streamed.headers["transfer-encoding"], streamed.body) == ("chunked", b"first,second")


async def test_bodies_larger_than_the_socket_buffers_go_whole_both_ways() -> None:
    """An 8 MB body in memory and an 8 MB answer pass whole on one reused connection: a
    write the kernel takes in parts (on trio the socket's own, waiting until writable)
    and an answer read in many parts."""
    answer = bytes(range(256)) * (8 * 4096)

    async def handler(received: Received) -> Action:
        return Reply(body=answer if received.path.endswith("big") else b"ok")

    sent = b"y" * (8 * 1024 * 1024)
    async with RawServer(handler) as server, client_of(server) as client:
        assert (await client.post("big", content=sent)).content == answer
        assert (await client.get("small")).content == b"ok"
    assert server.received[0].body == sent
    assert server.connections == 1


async def test_an_error_of_the_body_source_passes_as_it_is_and_drops_the_connection() -> None:
    """A streamed body that fails midway raises its own error, not a network one."""

    async def failing() -> AsyncIterator[bytes]:
        yield b"half of it"
        raise ValueError("the file shrank")

    async with RawServer(answering()) as server, client_of(server) as client:
        with pytest.raises(ValueError, match="the file shrank"):
            await client.post("upload", content=failing())
        assert await server.wait_all_closed() == 0
        assert (await client.get("next")).content == b"ok"
    assert [r.path for r in server.received] == ["/v1/next"]


async def test_gzip_is_left_to_httpx_decoder() -> None:
    """A gzip body is left raw for httpx to inflate; a corrupt one arrives with its status."""
    good = Reply(body=gzip.compress(b'{"a": 1}'), headers=(("Content-Encoding", "gzip"),))
    bad = Reply(409, b"not gzip", (("Content-Encoding", "gzip"),))
    async with RawServer(answering(good, bad)) as server:
        transport = H11Transport()
        response = await transport.handle_async_request(httpx.Request("GET", server.base_url))
        assert not response.is_stream_consumed  # left for httpx to decode
        assert await response.aread() == b'{"a": 1}'
        response = await transport.handle_async_request(httpx.Request("GET", server.base_url))
        assert response.status_code == 409
        async with aclosing(response.aiter_raw()) as raw:  # type: ignore[type-var]
            assert [chunk async for chunk in raw] == [b"not gzip"]
        with pytest.raises(httpx.DecodingError):  # as the SDK's _read_body decodes it
            httpx.Response(409, headers=response.headers, content=b"not gzip").read()
        await transport.aclose()
    assert server.connections == 1


async def test_a_short_body_is_a_protocol_error_and_its_connection_is_dropped() -> None:
    """A body shorter than its Content-Length fails; the next request gets a new connection."""
    raw = Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close=True)
    async with RawServer(answering(raw)) as server, client_of(server) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("short")
        assert (await client.get("next")).content == b"ok"
    assert server.connections == 2


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    """Garbage instead of a status line is RemoteProtocolError, and nothing leaks."""
    async with RawServer(answering(Raw(b"SSH-2.0-OpenSSH\r\n\r\n"))) as server:
        async with client_of(server) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("a")
        assert await server.wait_all_closed() == 0


async def test_a_silent_server_is_a_read_timeout_and_the_connection_is_closed() -> None:
    """No answer within the read timeout is ReadTimeout; the socket is closed, not pooled."""
    async with RawServer(answering(STALL)) as server, client_of(server, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("stall")
        assert await server.wait_all_closed() == 0
        assert (await client.get("next")).content == b"ok"


async def test_a_server_that_never_reads_is_a_write_timeout() -> None:
    """A body the server does not take within the write timeout is WriteTimeout."""
    accepted: list[anyio.abc.SocketStream] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def hold(stream: anyio.abc.SocketStream) -> None:
        accepted.append(stream)
        await anyio.sleep_forever()

    async def endless() -> AsyncIterator[bytes]:
        # never done, so the write can only end by its timeout: a fixed size, even
        # 64 MB, can fit the loopback's socket buffers (32 MB receive here) and then
        # the read would time out instead
        chunk = b"x" * 65_536
        while True:
            yield chunk

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hold)
        transport = H11Transport()
        client = httpx.AsyncClient(transport=transport, timeout=0.3)
        async with client, aclosing(endless()) as body:
            with pytest.raises(httpx.WriteTimeout):
                await client.post(f"http://127.0.0.1:{port}/", content=body)
        tg.cancel_scope.cancel()
    for stream in accepted:
        await stream.aclose()
    assert resource_warnings() == []


async def test_no_free_connection_within_the_pool_timeout_is_a_pool_timeout() -> None:
    """With its one connection busy, a request waits the pool timeout, then PoolTimeout."""
    async with RawServer(answering(STALL)) as server:
        transport = H11Transport(max_connections=1)
        client = httpx.AsyncClient(transport=transport, base_url=server.base_url)
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(client.get, "stall")
            assert await wait_until(lambda: len(server.received) == 1)
            with pytest.raises(httpx.PoolTimeout):
                await client.get("waits", timeout=httpx.Timeout(5.0, pool=0.1))
            tg.cancel_scope.cancel()


async def test_a_refused_connection_is_a_connect_error() -> None:
    """Nothing listening on the port is ConnectError, the SDK's "never sent"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx.AsyncClient(transport=H11Transport()) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.get(f"http://127.0.0.1:{port}/")
    # anyio's "All connection attempts failed", and what the attempt met, as on asyncio.
    assert str(refused.value).startswith("All connection attempts failed: ")
    assert f"('127.0.0.1', {port})" in str(refused.value)
    assert "[Errno " in str(refused.value)  # the OS error: refused


async def test_a_url_that_is_not_http_is_unsupported() -> None:
    """Only http and https are spoken: another scheme fails before any connection."""
    transport = H11Transport()
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/file"))
    await transport.aclose()


async def test_a_cancelled_request_closes_its_connection_and_frees_its_place() -> None:
    """Cancelled midway, a request's connection is closed, never pooled, and its place freed."""
    async with RawServer(answering(STALL)) as server:
        transport = H11Transport(max_connections=1)
        async with httpx.AsyncClient(transport=transport, base_url=server.base_url) as client:
            with anyio.move_on_after(0.2) as scope:
                await client.get("stall")
            assert scope.cancelled_caught
            assert await server.wait_all_closed() == 0
            assert not any(transport._idle.values())
            assert (await client.get("next", timeout=5.0)).content == b"ok"
    assert server.connections == 2


async def test_a_waiter_cancelled_as_it_is_woken_passes_the_room_on() -> None:
    """A place given to a waiter that is cancelled at that moment goes to the next waiter."""
    transport = H11Transport(max_connections=1)
    request = httpx.Request("GET", "http://127.0.0.1/")
    request.extensions["timeout"] = {"pool": 5.0}
    got_room: list[str] = []

    async def wait(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            await transport._wait_for_room(request)
            got_room.append(name)

    first, second = anyio.CancelScope(), anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(wait, "first", first)
        assert await wait_until(lambda: len(transport._waiters) == 1)
        tg.start_soon(wait, "second", second)
        assert await wait_until(lambda: len(transport._waiters) == 2)
        first.cancel()  # the first waiter is cancelled...
        transport._wake_one()  # ...as its turn comes, before it runs again
        assert await wait_until(lambda: bool(got_room))
        second.cancel()
    assert got_room == ["second"]
    assert not transport._waiters


async def test_aclose_closes_idle_and_busy_connections_without_a_resource_warning() -> None:
    """aclose() fails the request in flight and closes every socket; nothing is left to leak."""

    async def handler(received: Received) -> Action:
        return STALL if received.path.endswith("stall") else Reply(body=b"ok")

    failures: list[BaseException] = []
    async with RawServer(handler) as server:
        transport = H11Transport()
        client = httpx.AsyncClient(transport=transport, base_url=server.base_url)
        await client.get("idle")  # leaves an idle connection in the pool

        async def busy() -> None:
            try:
                await client.get("stall")
            except httpx.TransportError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(busy)
            assert await wait_until(lambda: len(server.received) == 2)
            await transport.aclose()
        assert await server.wait_all_closed() == 0
        with pytest.raises(RuntimeError, match="closed"):
            await client.get("late")
    assert len(failures) == 1
    assert resource_warnings() == []


async def test_an_idle_connection_the_server_closed_is_replaced_before_use() -> None:
    """A pooled socket the server has closed is noticed at checkout: the request just works."""
    raw = Raw(Reply(body=b"first").encode(), close=True)
    async with RawServer(answering(raw)) as server, client_of(server) as client:
        assert (await client.get("a")).content == b"first"
        assert await server.wait_all_closed() == 0
        assert (await client.get("b")).content == b"ok"
    assert server.connections == 2
    assert [r.path for r in server.received] == ["/v1/a", "/v1/b"]


async def test_a_get_on_a_reused_connection_dropped_unanswered_is_raised_marked_dropped() -> None:
    """The transport sends nothing twice: the sender resends, counted (test_dropped_keepalive)."""
    server = RawServer(answering(Reply(body=b"first"), DROP))
    async with server, client_of(server) as client:
        assert (await client.get("a")).content == b"first"
        with pytest.raises(httpx.RemoteProtocolError) as raised:
            await client.get("b")
        assert (await client.get("c")).content == b"ok"
    assert getattr(raised.value, "dropped", False) is True
    assert [r.path for r in server.received] == ["/v1/a", "/v1/b", "/v1/c"]


async def test_a_drop_closes_the_pooled_connections_idle_as_long_as_it() -> None:
    """Its pooled siblings may be as dead as the dropped one: the next request opens a socket."""
    server = RawServer(first_two_together(answering(Reply(body=b"warm"), Reply(), DROP)))
    async with server, client_of(server) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, "warm")
            tg.start_soon(client.get, "warm")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("b")
        assert (await client.get("c")).content == b"ok"
    assert (server.connections, len(server.received)) == (3, 4)


async def test_a_post_on_a_connection_dropped_unanswered_is_never_sent_twice() -> None:
    """The same failure for a POST is RemoteProtocolError: it may have been acted on."""
    server = RawServer(answering(Reply(body=b"first"), DROP))
    async with server, client_of(server) as client:
        assert (await client.get("a")).content == b"first"
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("b", content=b"{}")
    assert [r.path for r in server.received] == ["/v1/a", "/v1/b"]


async def test_a_dropped_fresh_connection_is_not_marked_dropped() -> None:
    """On a new connection the same silence is the server's answer, not a keep-alive race."""
    async with RawServer(answering(DROP)) as server, client_of(server) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response") as raised:
            await client.get("a")
    assert getattr(raised.value, "dropped", False) is False
    assert len(server.received) == 1


async def test_the_answer_carries_its_http_version_and_reason() -> None:
    """The status line's version and reason reach httpx's response as with httpcore."""
    raw = Raw(b"HTTP/1.0 404 Gone Fishing\r\nContent-Length: 0\r\n\r\n", close=True)
    async with RawServer(answering(raw)) as server, client_of(server) as client:
        response = await client.get("a")
    assert (response.status_code, response.http_version) == (404, "HTTP/1.0")
    assert response.reason_phrase == "Gone Fishing"


def server_tls() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "loopback-cert.pem", TLS / "loopback-key.pem")
    return context


async def test_https_with_a_trusted_certificate_keeps_its_connection_alive() -> None:
    """Over TLS, with the server's certificate trusted, answers arrive and the socket is reused."""
    trusting = ssl.create_default_context(cafile=TLS / "loopback-cert.pem")
    async with RawServer(answering(Raw(CHUNKED)), server_tls()) as server:
        async with client_of(server, ssl_context=trusting) as client:
            assert (await client.get("a")).content == b"hello world"
            assert (await client.get("b")).content == b"ok"
        assert await server.wait_all_closed() == 0
    assert server.connections == 1


async def test_https_carries_large_bodies_and_times_out_a_silent_server() -> None:
    """Over TLS (on trio over the socket's own calls): a 2 MB body each way on one kept
    connection, then no answer within the read timeout is ReadTimeout and the
    connection is closed, not pooled."""
    trusting = ssl.create_default_context(cafile=TLS / "loopback-cert.pem")
    answer = bytes(range(256)) * (2 * 4096)

    async def handler(received: Received) -> Action:
        return STALL if received.path.endswith("stall") else Reply(body=answer)

    sent = b"z" * (2 * 1024 * 1024)
    tls = server_tls()
    async with RawServer(handler, tls) as server, client_of(server, 0.3, ssl_context=trusting) as c:
        assert (await c.post("big", content=sent)).content == answer
        assert (await c.get("again")).content == answer
        with pytest.raises(httpx.ReadTimeout):
            await c.get("stall")
        assert await server.wait_all_closed() == 0
    assert server.received[0].body == sent
    assert server.connections == 1


async def test_https_verifies_the_certificate_by_default() -> None:
    """A certificate the default roots do not vouch for is ConnectError: nothing is sent."""
    async with RawServer(answering(), server_tls()) as server, client_of(server) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get("a")
    assert server.received == []


def test_max_connections_must_be_positive() -> None:
    """A pool of no connections is refused when it is made."""
    with pytest.raises(ValueError, match="at least 1"):
        H11Transport(max_connections=0)
