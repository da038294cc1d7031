"""The headers the server sees from the default transports, over a real loopback socket.

Origin and the bearer token go with every call to the API and to nowhere else;
nothing is added that the SDK did not ask for (no Accept-Encoding, no library
User-Agent). On asyncio the aiohttp transport's exact header lines are pinned too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cloutility_async import Cloutility
from tests.rawserver import RawServer, Received, Reply

pytestmark = pytest.mark.anyio

ORIGIN = "https://app.example"


async def answer(request: Received) -> Reply:
    """Grant a token on /oauth; answer every other call with an empty JSON object."""
    if request.path.endswith("/oauth"):
        return Reply.json({"access_token": "tok-1", "expires_in": 299, "refresh_token": "r"})
    return Reply.json({})


class Upload(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"%PDF-"
        yield b"1.7"


async def send_every_kind(api: Cloutility, elsewhere: str) -> None:
    """A plain GET, a GET with a query, JSON writes, a DELETE, bytes, a stream, and a
    GET and a POST to another origin."""
    sender = api._port.sender()
    await sender.send("GET", "bunits/1")
    await sender.send("GET", "bunits", params={"q": "a b"})
    await sender.send("POST", "bunits/1/consumers", json_body={"name": "x"})
    await sender.send("PUT", "bunits/1", json_body={"name": "y"})
    await sender.send("DELETE", "bunits/1/consumers/2")
    await sender.send("POST", "bunits/1/files", content=b"raw", headers={"Content-Type": "a/b"})
    chunked = {"Content-Type": "a/b", "Transfer-Encoding": "chunked"}  # as uploads of no size
    await sender.send("POST", "bunits/1/upload", stream=Upload(), headers=chunked)
    await sender.send("GET", f"{elsewhere}x")
    await sender.send("POST", f"{elsewhere}y", json_body={"k": 1})


def client(base_url: str) -> Cloutility:
    return Cloutility(
        client_id="cid", origin=ORIGIN, username="u", password="pw", base_url=base_url
    )


async def test_origin_and_token_go_with_every_api_call_and_nowhere_else() -> None:
    """Every API call carries Origin, Accept, our User-Agent and (after login) the bearer;
    the other origin gets neither Origin nor Authorization; nobody gets Accept-Encoding."""
    async with RawServer(answer) as server, RawServer(answer) as other:
        api = client(server.base_url)
        async with api:
            await send_every_kind(api, other.base_url)
    grant, *calls = server.received
    assert grant.path == "/v1/oauth"
    assert "authorization" not in grant.headers
    assert len(calls) == 7
    for request in [grant, *calls]:
        assert request.headers["origin"] == ORIGIN
        assert request.headers["accept"] == "application/json"
        assert request.headers["user-agent"].startswith("cloutility-async/")
        assert "accept-encoding" not in request.headers
    assert all(r.headers["authorization"] == "Bearer tok-1" for r in calls)
    assert [r.method for r in other.received] == ["GET", "POST"]
    for request in other.received:
        assert "authorization" not in request.headers
        assert "origin" not in request.headers
        assert "accept-encoding" not in request.headers
        assert request.headers["user-agent"].startswith("cloutility-async/")


def header_names(request: Received) -> list[str]:
    return [line.split(b":", 1)[0].decode() for line in request.head.split(b"\r\n")[1:]]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_sends_exactly_the_header_lines_httpx_built() -> None:
    """Asyncio only by design (the aiohttp transport): each request's header lines, in
    order, as the SDK built them, plus only the framing aiohttp must add."""
    async with RawServer(answer) as server, RawServer(answer) as other:
        api = client(server.base_url)
        async with api:
            assert type(api._port.sender().transport).__name__ == "AiohttpTransport"
            await send_every_kind(api, other.base_url)
    common = ["host", "origin", "accept", "user-agent"]
    json_write = [*common, "content-type", "authorization", "content-length"]
    assert [header_names(r) for r in server.received] == [
        [*common, "content-type", "content-length"],  # the password grant
        [*common, "authorization"],
        [*common, "authorization"],
        json_write,
        json_write,
        [*common, "authorization", "Content-Length"],  # aiohttp frames a DELETE
        [*common, "content-type", "authorization", "content-length"],
        [*common, "content-type", "authorization", "Transfer-Encoding"],
    ]
    assert [header_names(r) for r in other.received] == [
        ["host", "accept", "user-agent"],
        ["host", "accept", "user-agent", "content-type", "content-length"],
    ]
    assert [r.body for r in server.received[-2:]] == [b"raw", b"%PDF-1.7"]
