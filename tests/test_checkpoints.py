"""Every request is a checkpoint, even when the server answers before the SDK reads.

Trio's convention, which the SDK keeps on both backends: every async call of a
library lets other tasks run (a schedule point) and can be cancelled (a cancel
point). On trio the h11 transport reads a plain connection's socket itself and
waits only when the kernel would block; a server that answers at once (on this
machine, in another thread) never makes it block. The server here runs in a
thread with blocking sockets, outside the event loop, so it answers while the
client is still busy: the requests must yield all the same.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from cloutility_async import Cloutility

pytestmark = pytest.mark.anyio

CONSUMER = (Path(__file__).parent / "fixtures" / "consumer.json").read_bytes()
GRANT = json.dumps({"access_token": "tok-1", "expires_in": 299, "refresh_token": "r"}).encode()


def _answer(connection: socket.socket) -> None:
    """Answer each request on ``connection`` at once: a grant on /oauth, else the consumer."""
    buffer = b""
    with connection:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = connection.recv(65536)
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            length = next(
                (
                    int(v)
                    for k, _, v in (h.partition(b":") for h in lines[1:])
                    if k.strip().lower() == b"content-length"
                ),
                0,
            )
            while len(buffer) < length:
                buffer += connection.recv(65536)
            buffer = buffer[length:]
            body = GRANT if b"/oauth" in lines[0] else CONSUMER
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body
            )


@contextmanager
def threaded_server() -> Iterator[str]:
    """A keep-alive HTTP server in daemon threads on 127.0.0.1; its ``/v1/`` base URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed on exit
                return
            threading.Thread(target=_answer, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1/"
    finally:
        listener.close()


def client(base_url: str) -> Cloutility:
    return Cloutility(
        client_id="cid",
        origin="https://app.example",
        username="u",
        password="pw",
        base_url=base_url,
    )


async def test_a_loop_of_requests_answered_at_once_lets_other_tasks_run() -> None:
    """20 GETs in a row on a warm connection to a fast server: another task runs between
    them (each GET is a schedule point), not only after the loop."""
    with threaded_server() as base_url:
        async with client(base_url) as api:
            await api.bunit(22).consumer(408).get()  # the grant and the connection
            ticks = 0
            done = False

            async def other() -> None:
                nonlocal ticks
                while not done:
                    ticks += 1
                    await anyio.lowlevel.checkpoint()

            async with anyio.create_task_group() as tg:
                tg.start_soon(other)
                await anyio.sleep(0.01)  # `other` is running
                before = ticks
                for _ in range(20):
                    await api.bunit(22).consumer(408).get()
                during = ticks - before
                done = True
    assert during >= 10


async def test_a_request_answered_at_once_in_a_cancelled_scope_is_cancelled() -> None:
    """A GET inside a cancelled scope raises the cancellation, however fast the server."""
    with threaded_server() as base_url:
        async with client(base_url) as api:
            await api.bunit(22).consumer(408).get()
            with anyio.CancelScope() as scope:
                scope.cancel()
                await api.bunit(22).consumer(408).get()
                raise AssertionError("not cancelled")
            assert scope.cancelled_caught
