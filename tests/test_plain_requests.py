"""Body-less API requests on the default transports, over a real loopback socket.

The SDK's own transports (aiohttp on asyncio, h11 on trio) send them without an
``httpx.Request`` (a ``PlainRequest``) and answer them with a ``LazyResponse``,
whose headers and request are built only when something asks. Each behaviour
here is what the httpx path gives: errors that name method, URL and status,
redirects, a 401 replay, hooks and statistics, timeouts, dropped connections,
encoded bodies, the debug log. Every test runs on both backends, each with its
default transport.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import httpx
import pytest

from cloutility_async import (
    APIError,
    Cloutility,
    Consumer,
    DecodeError,
    NotFoundError,
    RequestFinished,
    RequestStarted,
    RequestTimeoutError,
    TransportError,
)
from cloutility_async._h11_transport import H11Transport
from cloutility_async._lazy_response import LazyResponse
from cloutility_async._requests import PlainRequest, RequestBuilder
from cloutility_async._responses import response_from_body
from tests.rawserver import DROP, STALL, Action, Raw, RawServer, Received, Reply
from tests.recording import Recorder

pytestmark = pytest.mark.anyio

TOKENS = iter(f"tok-{n}" for n in range(1, 100))
CONSUMER = json.loads((Path(__file__).parent / "fixtures" / "consumer.json").read_text())
JSON = (("Content-Type", "application/json; charset=utf-8"),)


def portal(*answers: Action) -> RawServer:
    """Grant a fresh token on /oauth; answer the API's requests with ``answers`` in turn,
    then with the consumer fixture."""
    queue = list(answers)

    async def handler(request: Received) -> Action:
        if request.path.endswith("/oauth"):
            grant = {"access_token": next(TOKENS), "expires_in": 299, "refresh_token": "refresh-r"}
            return Reply.json(grant)
        return queue.pop(0) if queue else Reply.json(CONSUMER)

    return RawServer(handler)


def client(server: RawServer, **options: object) -> Cloutility:
    settings: dict[str, object] = {
        "client_id": "cid",
        "origin": "https://app.example",
        "username": "u",
        "password": "pw",
        "base_url": server.base_url,
        "backoff_base": 0.001,
    }
    settings.update(options)
    return Cloutility(**settings)  # type: ignore[arg-type]


def api_calls(server: RawServer) -> list[Received]:
    return [r for r in server.received if not r.path.endswith("/oauth")]


async def test_an_error_status_names_the_request_and_keeps_the_answers_headers() -> None:
    """A 404 to a plain GET is NotFoundError with method, URL, status, the server's
    message and the answer's headers, and no token anywhere in it."""
    body = json.dumps({"message": "no such consumer"}).encode()
    server = portal(Reply(404, body, (*JSON, ("X-Trace", "t-1"))))
    async with server, client(server) as api:
        with pytest.raises(NotFoundError) as info:
            await api.bunit(22).consumer(408).get()
    error = info.value
    assert (error.method, error.status) == ("GET", 404)
    assert error.url == f"{server.base_url}bunits/22/consumers/408"
    assert error.server_message == "no such consumer"
    assert error.headers["x-trace"] == "t-1"
    assert "tok-" not in repr(error) + str(error) + repr(list(error.headers.items()))


async def test_a_body_that_is_not_json_is_a_decode_error_naming_its_type() -> None:
    """An HTML 200 to a typed GET is DecodeError with method, URL, status and content type."""
    page = Reply(200, b"<html>maintenance</html>", (("Content-Type", "text/html"),))
    async with portal(page) as server, client(server) as api:
        with pytest.raises(DecodeError) as info:
            await api.bunit(22).consumer(408).get()
    assert (info.value.method, info.value.status) == ("GET", 200)
    assert info.value.url == f"{server.base_url}bunits/22/consumers/408"
    assert "text/html" in str(info.value)


async def test_a_bare_string_is_read_by_its_content_type() -> None:
    """fullVersion's plain-text answer is read by the answer's Content-Type header."""
    server = portal(Reply(200, b"1.0.4480.0", (("Content-Type", "text/plain"),)))
    async with server, client(server) as api:
        assert await api.full_version() == "1.0.4480.0"


async def test_a_same_origin_redirect_is_followed_with_the_token() -> None:
    """A 302 within the API's origin is followed, the bearer sent again, the answer read."""
    moved = Reply(302, b"", (("Location", "/v1/bunits/22/consumers/409"),))
    async with portal(moved) as server, client(server) as api:
        consumer = await api.bunit(22).consumer(408).get()
    assert consumer.name == "JennysWS"
    first, second = api_calls(server)
    assert second.path == "/v1/bunits/22/consumers/409"
    assert second.headers["authorization"] == first.headers["authorization"]


async def test_a_redirect_to_another_origin_is_refused_naming_the_request() -> None:
    """A 302 to another host is APIError naming the GET, its URL and the status."""
    moved = Reply(302, b"", (("Location", "http://elsewhere.example/v1/x"),))
    async with portal(moved) as server, client(server) as api:
        with pytest.raises(APIError, match="another origin") as info:
            await api.bunit(22).consumer(408).get()
    assert (info.value.method, info.value.status) == ("GET", 302)
    assert info.value.url == f"{server.base_url}bunits/22/consumers/408"


async def test_a_401_is_replayed_once_with_a_new_token() -> None:
    """A 401 to the token sent renews it and sends the GET again with the new one."""
    async with portal(Reply(401, b"")) as server, client(server) as api:
        assert (await api.bunit(22).consumer(408).get()).name == "JennysWS"
        assert api.statistics().replays_after_401 == 1
    first, replay = api_calls(server)
    assert first.headers["authorization"] != replay.headers["authorization"]


async def test_hooks_and_statistics_see_every_attempt_of_a_retried_get() -> None:
    """A 503 then a 200: two attempts reported (the second a retry), two requests counted."""
    recorder = Recorder()
    async with portal(Reply(503, b"")) as server, client(server, hooks=[recorder]) as api:
        await api.bunit(22).consumer(408).get()
        stats = api.statistics()
    assert (stats.requests, stats.retries) == (2, 1)
    started = [e for e in recorder.of(RequestStarted) if isinstance(e, RequestStarted)]
    finished = [e for e in recorder.of(RequestFinished) if isinstance(e, RequestFinished)]
    api_started = [e for e in started if not e.url.endswith("/oauth")]
    assert [(e.method, e.attempt, e.resend) for e in api_started] == [
        ("GET", 1, None),
        ("GET", 2, "retry"),
    ]
    assert [e.status for e in finished if e.request in api_started] == [503, 200]


async def test_a_server_that_stalls_is_a_read_timeout() -> None:
    """No answer within the read timeout: RequestTimeoutError naming the GET, after the
    retries the policy allows (each attempt timed on its own)."""
    server = portal(STALL, STALL)
    async with server, client(server, timeout=0.3, max_retries=1) as api:
        with pytest.raises(RequestTimeoutError) as info:
            await api.bunit(22).consumer(408).get()
    assert info.value.method == "GET"
    assert info.value.url == f"{server.base_url}bunits/22/consumers/408"
    assert len(api_calls(server)) == 2


async def test_a_connection_dropped_mid_body_is_a_transport_error_and_retried() -> None:
    """Half a body, then the connection closes: the GET is sent again (it is safe), and
    once the retries are spent it is TransportError."""
    half = Raw(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"href":', close=True)
    async with portal(half, half) as server, client(server, max_retries=1) as api:
        with pytest.raises(TransportError) as info:
            await api.bunit(22).consumer(408).get()
    assert info.value.method == "GET"
    assert len(api_calls(server)) == 2


async def test_a_connection_dropped_unanswered_then_an_answer_succeeds() -> None:
    """A GET whose connection closes without an answer is retried and then read."""
    async with portal(DROP) as server, client(server) as api:
        assert (await api.bunit(22).consumer(408).get()).name == "JennysWS"


async def test_a_gzip_body_is_decoded() -> None:
    """An answer with Content-Encoding: gzip is decoded before it is read as JSON."""
    packed = gzip.compress(json.dumps(CONSUMER).encode())
    server = portal(Reply(200, packed, (*JSON, ("Content-Encoding", "gzip"))))
    async with server, client(server) as api:
        assert (await api.bunit(22).consumer(408).get()).name == "JennysWS"


async def test_a_bare_array_becomes_a_collection_of_the_url_sent() -> None:
    """A collection route that answers a bare array gets the request's URL as its href."""
    items = Reply.json([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    async with portal(items) as server, client(server) as api:
        url = httpx.URL(f"{server.base_url}bunits/22/consumers")
        data, response = await api._port.get_json(url)
        collection = api._port.collection(data, Consumer, response)
    assert collection.href == str(url)
    assert collection.total == 2


async def test_the_debug_line_of_a_plain_get_masks_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The DEBUG record of an answered GET shows its headers with the bearer masked."""
    caplog.set_level(logging.DEBUG, logger="cloutility_async.http")
    async with portal() as server, client(server) as api:
        await api.bunit(22).consumer(408).get()
    (line,) = [r.getMessage() for r in caplog.records if "consumers/408" in r.getMessage()]
    assert "'authorization': 'Bearer ***'" in line
    assert "tok-" not in caplog.text


async def test_a_plain_get_builds_no_httpx_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the default transport of either backend the GETs of a typed read build no
    httpx.Request, and their answers are LazyResponses."""
    built: list[str] = []
    original = httpx.Request.__init__

    def counting(self: httpx.Request, method: str, url: object, **kwargs: object) -> None:
        built.append(f"{method} {url}")
        original(self, method, url, **kwargs)  # type: ignore[arg-type]

    async with portal() as server, client(server) as api:
        await api.bunit(22).consumer(408).get()  # the login's grant is an httpx.Request
        monkeypatch.setattr(httpx.Request, "__init__", counting)
        response = await api._port.sender().send("GET", "bunits/22/consumers/408")
        await api.bunit(22).consumer(409).get()
    assert built == []
    assert type(response) is LazyResponse


async def test_the_h11_transport_keeps_the_servers_reason_and_version() -> None:
    """A plain GET's answer through the h11 transport carries the server's reason phrase
    (the message of an error without a body) and HTTP version, as httpx's request did."""
    gone = Raw(b"HTTP/1.0 404 Gone Fishing\r\nContent-Length: 0\r\n\r\n", close=True)
    fine = Raw(b"HTTP/1.0 200 Fine Thanks\r\nContent-Length: 2\r\n\r\n{}", close=True)
    async with portal(gone, fine) as server, client(server, transport=H11Transport()) as api:
        with pytest.raises(NotFoundError, match="Gone Fishing"):
            await api.bunit(22).consumer(408).get()
        response = await api._port.sender().send("GET", "bunits/22/consumers/408")
    assert type(response) is LazyResponse
    assert (response.http_version, response.reason_phrase) == ("HTTP/1.0", "Fine Thanks")


def plain_request() -> tuple[RequestBuilder, PlainRequest, httpx.Request]:
    builder = RequestBuilder(
        origin="https://app.example",
        user_agent="cloutility-async/test",
        timeout=httpx.Timeout(5.0),
        api_url=httpx.URL("https://portal.test:8443/v1/"),
    )
    url = httpx.URL("https://portal.test:8443/v1/bunits/22?q=a%20b")
    plain = builder.plain("GET", url, "tok", builder.timeout)
    built = builder.build("GET", url, None, None, {}, "tok", True, builder.timeout)
    return builder, plain, built


def test_a_plain_request_is_the_request_build_makes() -> None:
    """Its header lines are the built request's (names lower-cased, Host first), and the
    request it builds on demand equals the built one."""
    _, plain, built = plain_request()
    assert list(plain.lines) == built.headers.multi_items()
    assert plain.raw_lines == built.headers.raw
    assert plain.lines[0] == ("host", "portal.test:8443")
    assert plain.origin == ("https", "portal.test:8443")
    request = plain.to_httpx()
    assert (request.method, request.url) == (built.method, built.url)
    assert request.headers.raw == built.headers.raw
    assert request.extensions == built.extensions
    assert request.content == built.content == b""


@pytest.mark.parametrize("length", [True, False])
def test_a_lazy_response_is_the_response_built_from_the_same_bytes(length: bool) -> None:
    """Status, headers (Content-Length added when absent), body, request, flags and
    extensions of a LazyResponse equal those of response_from_body's."""
    _, plain, built = plain_request()
    body = b'{"id": 22}'
    raw = [(b"Content-Type", b"application/json"), (b"X-Trace", b"t")]
    if length:
        raw.append((b"Content-Length", b"10"))
    lazy = LazyResponse(200, raw, body, plain)
    eager = response_from_body(200, raw, body, built)
    assert lazy.status_code == eager.status_code
    assert lazy.headers.raw == eager.headers.raw
    assert lazy.content == eager.content
    assert lazy.json() == eager.json() == {"id": 22}
    assert lazy.request.headers.raw == eager.request.headers.raw
    assert lazy.url == eager.url
    assert (lazy.is_closed, lazy.is_stream_consumed) == (eager.is_closed, eager.is_stream_consumed)
    assert lazy.extensions == eager.extensions
    assert (lazy.http_version, lazy.reason_phrase) == (eager.http_version, eager.reason_phrase)
    assert lazy.history == eager.history == []
    assert lazy.next_request is eager.next_request is None
    assert lazy.text == eager.text
    with pytest.raises(AttributeError):
        _ = lazy.no_such_part


async def test_the_h11_transport_checks_each_tokens_header_lines_and_sends_each_token() -> None:
    """h11's check of a plain request's header lines is kept per token (per list of
    lines): the next token's Authorization goes out, not the one checked before, and
    lines h11 refuses are refused before anything is sent, even after good ones."""
    async with RawServer(lambda request: _ok()) as server:
        builder = RequestBuilder(
            origin="https://app.example",
            user_agent="cloutility-async/test",
            timeout=httpx.Timeout(5.0),
            api_url=httpx.URL(server.base_url),
        )
        url = httpx.URL(server.base_url + "bunits/22")
        transport = H11Transport()
        try:
            for bearer in ("tok-a", "tok-a", "tok-b"):
                request = builder.plain("GET", url, bearer, builder.timeout)
                assert (await transport.send_plain(request)).status_code == 200
            bad = builder.plain("GET", url, "tok-c", builder.timeout)
            bad.raw_lines = [*bad.raw_lines, (b"X-Bad", b"line\r\nInjected: 1")]
            with pytest.raises(httpx.LocalProtocolError) as caught:
                await transport.send_plain(bad)
            assert caught.value.request.url == url
        finally:
            await transport.aclose()
    assert [r.headers["authorization"] for r in server.received] == [
        "Bearer tok-a",
        "Bearer tok-a",
        "Bearer tok-b",
    ]


async def _ok() -> Action:
    return Reply(body=b"{}")


async def test_plain_requests_of_two_clients_on_one_h11_transport_reach_their_own_api() -> None:
    """The transport keeps the origin of a client's API from its first plain request;
    another client's plain requests (another API origin) still go to their own server."""
    async with RawServer(lambda request: _ok()) as one, RawServer(lambda request: _ok()) as two:
        builders = [
            RequestBuilder(
                origin="https://app.example",
                user_agent="cloutility-async/test",
                timeout=httpx.Timeout(5.0),
                api_url=httpx.URL(server.base_url),
            )
            for server in (one, two)
        ]
        transport = H11Transport()
        try:
            for n in range(4):
                builder = builders[n % 2]
                url = httpx.URL(f"{(one, two)[n % 2].base_url}bunits/{n}")
                request = builder.plain("GET", url, "tok", builder.timeout)
                assert (await transport.send_plain(request)).status_code == 200
        finally:
            await transport.aclose()
    assert [r.target for r in one.received] == ["/v1/bunits/0", "/v1/bunits/2"]
    assert [r.target for r in two.received] == ["/v1/bunits/1", "/v1/bunits/3"]
