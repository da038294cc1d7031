"""What a request in flight holds of the sender: one coroutine frame per layer.

Each frame alive while a request waits for its answer costs memory per request in
flight (``benchmarks/bulk_audit.py --scenarios inflight``): ``Sender.send`` builds
the call and hands back the retry loop's coroutine, and an attempt awaits the
transport in its own frame.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable

import anyio
import anyio.lowlevel
import httpx
import pytest

from cloutility_async import Cloutility
from cloutility_async._requests import PlainRequest
from tests.fakeportal import FakePortal
from tests.rawserver import Action, RawServer, Received, Reply

pytestmark = pytest.mark.anyio

CONSUMER = {"href": "https://portal.test/v1/bunits/22/consumers/408", "id": 408, "name": "W"}


def sender_frames(module: str = "cloutility_async._transport") -> list[str]:
    """The running frames of ``module``, innermost first."""
    names: list[str] = []
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_globals.get("__name__") == module:
            names.append(frame.f_code.co_name)  # co_qualname: 3.11+
        frame = frame.f_back
    return names


async def test_a_get_in_flight_holds_the_retry_loop_and_the_attempt_only() -> None:
    portal = FakePortal()
    seen: list[list[str]] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(sender_frames())
        await anyio.lowlevel.checkpoint()
        return httpx.Response(200, json=CONSUMER)

    portal.route("GET", "bunits/22/consumers/408", answer)
    async with portal.client() as api:
        assert (await api.bunit(22).consumer(408).get()).name == "W"
    # respx is "another transport": its exchange goes through _transmit, inside the
    # wait that close() can end.
    assert seen == [["_transmit", "_wait", "_attempt", "_sending"]]


async def test_a_plain_get_awaits_the_sdk_transport_from_the_attempt() -> None:
    """On the SDK's own transport (aiohttp on asyncio, h11 on trio) the attempt awaits
    the transport's coroutine itself: no frame of the sender's but the retry loop's and
    the attempt's."""
    server = RawServer(_answer)
    seen: list[list[str]] = []
    async with server, _client(server) as api:
        sender = api._port.sender()
        send_plain = sender._send_plain
        assert send_plain is not None

        def spy(request: PlainRequest) -> Awaitable[httpx.Response]:
            seen.append(sender_frames())
            return send_plain(request)

        sender._send_plain = spy
        assert (await api.bunit(22).consumer(408).get()).name == "W"
    assert seen == [["_attempt", "_sending"]]


async def test_a_typed_read_in_flight_holds_the_ports_coroutine_and_no_proxy_helper() -> None:
    """``ref.get()`` awaits the port's shared GET itself: no frame of the proxy's
    ``_read`` while the request is out."""
    portal = FakePortal()
    seen: list[tuple[list[str], list[str]]] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        proxies = sender_frames("cloutility_async._resources._base")
        seen.append((proxies, sender_frames("cloutility_async._resources._port")))
        return httpx.Response(200, json=CONSUMER)

    portal.route("GET", "bunits/22/consumers/408", answer)
    async with portal.client() as api:
        assert (await api.bunit(22).consumer(408).get()).name == "W"
    assert seen == [([], ["_shared"])]


async def test_send_checks_its_arguments_before_it_is_awaited() -> None:
    """``send()`` builds the call at once (a body that is not JSON fails then) and
    returns the coroutine that sends it."""
    from cloutility_async import ValidationError

    portal = FakePortal()
    portal.route("GET", "bunits/1", lambda request: _ok())
    async with portal.client() as api:
        sender = api._port.sender()
        with pytest.raises(ValidationError):
            sender.send("POST", "bunits/1/consumers", json_body={"x": object()}).close()
        pending = sender.send("GET", "bunits/1")
        assert inspect.iscoroutine(pending)
        assert (await pending).status_code == 200


async def _ok() -> httpx.Response:
    return httpx.Response(200, json={"id": 1})


async def _answer(request: Received) -> Action:
    if request.path.endswith("/oauth"):
        return Reply.json({"access_token": "tok-1", "expires_in": 299})
    return Reply.json(CONSUMER)


def _client(server: RawServer) -> Cloutility:
    return Cloutility(
        client_id="cid", origin="https://app.example", username="u", password="pw",
        base_url=server.base_url,
    )  # fmt: skip


async def test_a_call_copies_neither_its_method_nor_empty_headers() -> None:
    """``_call`` keeps an upper-case method as it is and shares one empty mapping for
    the calls that add no header (memory per call in flight); a JSON body's
    ``Content-Type`` goes into a dict of its own call only."""
    portal = FakePortal()
    async with portal.client() as api:
        sender = api._port.sender()
        method = "".join(["G", "ET"])  # not the interned literal
        plain = sender._call(method, "bunits/1", None, None, None, None, None, None)
        other = sender._call("GET", "bunits/2", None, None, None, None, None, None)
        lower = sender._call("delete", "bunits/3", None, None, None, None, None, None)
        posted = sender._call("POST", "bunits/1/consumers", None, {"a": 1}, None, None, None, None)
        given = {"Accept": "text/csv"}
        asked = sender._call("GET", "bunits/4", None, None, None, None, given, None)
    assert plain.method is method
    assert lower.method == "DELETE"
    assert plain.headers is other.headers
    assert dict(plain.headers) == {}
    assert dict(posted.headers) == {"Content-Type": "application/json; charset=utf-8"}
    assert dict(asked.headers) == given
    assert asked.headers is not given
