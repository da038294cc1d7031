"""Billing subscribers: the portal's Test request and notifications."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from cloutility_async.testing import (
    BillingSubscriber,
    Simulator,
    SubscriberTestResult,
)

pytestmark = pytest.mark.anyio


class Receiver:
    """A raw HTTP/1.1 subscriber on 127.0.0.1 that records every byte it gets.

    ``mode``: ``continue`` (100 Continue, read the body, 200), ``reject`` (401 at once),
    ``silent`` (no interim answer; read the body; 103 then a chunked 200), ``close``
    (close the connection at once).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.heads: list[bytes] = []
        self.after_head: list[bytes] = []
        self.connections = 0
        self._handled = anyio.Event()

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            self.connections += 1
            if self.mode == "close":
                self.after_head.append(b"")
                return
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                buffer += await stream.receive()
            head, rest = buffer.split(b"\r\n\r\n", 1)
            self.heads.append(head)
            match = re.search(rb"Content-Length: (\d+)", head)
            assert match is not None
            length = int(match[1])
            if self.mode == "reject":
                await stream.send(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n"
                    b"Connection: close\r\n\r\nnope"
                )
            else:
                if self.mode == "continue":
                    await stream.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                while len(rest) < length:
                    rest += await stream.receive()
                if self.mode == "continue":
                    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                else:
                    await stream.send(
                        b"HTTP/1.1 103 Early Hints\r\n\r\n"
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"4\r\nfine\r\n3;x=y\r\n!!!\r\n0\r\n\r\n"
                    )
            # Everything else the client sends, until it closes the connection.
            try:
                while True:
                    rest += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
            self._done(rest)

    def _done(self, after_head: bytes) -> None:
        self.after_head.append(after_head)
        self._handled.set()
        self._handled = anyio.Event()

    async def settled(self, count: int) -> None:
        """Wait until ``count`` connections were handled to their end."""
        with anyio.fail_after(5):
            while len(self.after_head) < count:
                await self._handled.wait()


@asynccontextmanager
async def receiving(mode: str) -> AsyncIterator[tuple[Receiver, int]]:
    receiver = Receiver(mode)
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, receiver.handle)
            yield receiver, port
            tg.cancel_scope.cancel()


async def test_billing_subscriber_sends_the_portal_request() -> None:
    """The Test request: the reference's head, 100 Continue, then the compact JSON body."""
    sim = Simulator(consumers=2)
    async with receiving("continue") as (receiver, port):
        result = await sim.test_billing_subscriber(f"http://127.0.0.1:{port}/baas-report/?code=xyz")
        await receiver.settled(1)
    body = b'{"trigger":"test for new billing data available"}'
    assert receiver.heads == [
        b"POST /baas-report/?code=xyz HTTP/1.1\r\n"
        b"Content-Type: application/json; charset=utf-8\r\n"
        + f"Host: 127.0.0.1:{port}\r\n".encode()
        + b"Content-Length: 49\r\n"
        b"Expect: 100-continue\r\n"
        b"Connection: close"
    ]
    assert receiver.after_head == [body]
    assert result == SubscriberTestResult(200, continued=True, sent_body=True, body=b"ok")
    assert sim.stats.billing_notifications == {200: 1}
    assert sim.stats.snapshot()["billing_notifications"] == {"200": 1}


async def test_billing_subscriber_sends_no_body_after_an_early_401() -> None:
    """A final answer to the head (401) means the body is never sent."""
    sim = Simulator(consumers=2)
    async with receiving("reject") as (receiver, port):
        result = await sim.test_billing_subscriber(f"http://127.0.0.1:{port}/hook?code=guess")
        await receiver.settled(1)
    assert result == SubscriberTestResult(401, continued=False, sent_body=False, body=b"nope")
    assert receiver.after_head == [b""]
    assert sim.stats.billing_notifications == {401: 1}


async def test_billing_subscriber_sends_the_body_after_the_wait() -> None:
    """No interim answer within expect_timeout: the body goes anyway; chunked answers decode."""
    sim = Simulator(consumers=2)
    async with receiving("silent") as (receiver, port):
        result = await sim.test_billing_subscriber(
            f"http://localhost:{port}/h%C3%A4/?code=a%2Bb", "custom ✓", expect_timeout=0.05
        )
        await receiver.settled(1)
    assert receiver.heads[0].startswith(b"POST /h%C3%A4/?code=a%2Bb HTTP/1.1\r\n")
    assert f"Host: localhost:{port}\r\n".encode() in receiver.heads[0]
    assert json.loads(receiver.after_head[0]) == {"trigger": "custom ✓"}
    assert result == SubscriberTestResult(200, continued=False, sent_body=True, body=b"fine!!!")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "ftp://127.0.0.1/hook",
        "127.0.0.1:8080/hook",
        "http://example.com/hook",
        "http://10.0.0.1/hook",
        "http://128.0.0.1/hook",
        "http://[::2]/hook",
        "http://localhost.example/hook",
        "http:///hook",
        "http://127.0.0.1:notaport/hook",
        "http://127.0.0.1/a b",
    ],
)
async def test_billing_subscriber_refuses_urls_off_loopback(url: str) -> None:
    """Only http:// on 127.0.0.0/8, localhost or ::1; nothing is sent or counted otherwise."""
    sim = Simulator(consumers=2)
    refused = "http://|loopback|[Pp]ort|whitespace"
    with pytest.raises(ValueError, match=refused):
        await sim.test_billing_subscriber(url)
    with pytest.raises(ValueError, match=refused):
        sim.add_billing_subscriber(sim.world.root_id, url)
    assert sim.billing_subscribers == {}
    assert sim.stats.billing_notifications == {}


def test_add_billing_subscriber_checks_the_business_unit() -> None:
    """Subscribers get increasing ids; an unknown business unit is refused."""
    sim = Simulator(consumers=2)
    root = sim.world.root_id
    first = sim.add_billing_subscriber(root, "http://127.0.0.1:9/a")
    second = sim.add_billing_subscriber(root, "http://[::1]:9/b")
    assert second > first
    assert sim.billing_subscribers[first] == BillingSubscriber(first, root, "http://127.0.0.1:9/a")
    sim.remove_billing_subscriber(first)
    assert list(sim.billing_subscribers) == [second]
    with pytest.raises(ValueError, match="unknown business unit"):
        sim.add_billing_subscriber(987654, "http://127.0.0.1:9/a")


async def test_notify_billing_subscribers_posts_to_each_subscriber_of_the_unit() -> None:
    """Each subscriber of the unit gets one POST, in order; a dead one does not stop the rest."""
    sim = Simulator(consumers=12)
    root = sim.world.root_id
    other = next(b for b in sim.world.bunits if b != root)
    async with (
        receiving("continue") as (good, good_port),
        receiving("close") as (dead, dead_port),
        receiving("continue") as (elsewhere, elsewhere_port),
    ):
        sim.add_billing_subscriber(root, f"http://127.0.0.1:{dead_port}/dead")
        sim.add_billing_subscriber(other, f"http://127.0.0.1:{elsewhere_port}/other")
        sim.add_billing_subscriber(root, f"http://127.0.0.1:{good_port}/good?code=1")
        results = await sim.notify_billing_subscribers(root)
        await good.settled(1)
    assert [r.status for r in results] == [0, 200]
    assert results[0].error
    assert not results[0].sent_body
    assert good.after_head == [b'{"trigger":"new billing data available"}']
    assert dead.connections == 1
    assert elsewhere.connections == 0
    assert sim.stats.billing_notifications == {0: 1, 200: 1}
    # The listeners are closed now: the connection is refused.
    [refused] = await sim.notify_billing_subscribers(other, expect_timeout=0)
    assert refused.status == 0
    assert refused.error
    assert sim.stats.billing_notifications == {0: 2, 200: 1}
    lonely = next(b for b in sim.world.bunits if b not in (root, other))
    assert await sim.notify_billing_subscribers(lonely) == []
    with pytest.raises(ValueError, match="unknown business unit"):
        await sim.notify_billing_subscribers(987654)
