"""The sender: retries, what is never retried, limits, credential scoping, error mapping."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from cloutility_async import (
    APIError,
    BadRequestError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from tests.fakeportal import PASSWORD, FakePortal

pytestmark = pytest.mark.anyio


async def test_get_is_retried_on_503_and_succeeds() -> None:
    """GET is idempotent: a 503 is retried with backoff."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion")
    route.side_effect = [httpx.Response(503), httpx.Response(502), httpx.Response(200, json="1.0")]
    async with portal.client() as api:
        assert await api.full_version() == "1.0"
        assert api.statistics().retries == 2
    assert route.call_count == 3


async def test_post_is_not_retried_on_503() -> None:
    """A create must never be sent twice: POST gets a ServerError after one 503."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers", status_code=503)
    async with portal.client() as api:
        with pytest.raises(ServerError) as info:
            await api._port.sender().send("POST", "bunits/22/consumers", json_body={"name": "x"})
    assert route.call_count == 1
    assert info.value.status == 503
    assert info.value.method == "POST"
    assert info.value.url == "https://portal.test/v1/bunits/22/consumers"


async def test_post_is_not_retried_after_a_dropped_connection() -> None:
    """A connection dropped after sending may have created the resource: no retry."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers")
    route.side_effect = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    async with portal.client() as api:
        with pytest.raises(TransportError):
            await api._port.sender().send("POST", "bunits/22/consumers", json_body={"name": "x"})
    assert route.call_count == 1


async def test_post_is_retried_when_the_connection_was_refused() -> None:
    """A refused connection never reached the server, so even a POST is retried."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers")
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(201, json={"id": 1})]
    async with portal.client() as api:
        response = await api._port.sender().send(
            "POST", "bunits/22/consumers", json_body={"name": "x"}
        )
    assert response.json() == {"id": 1}
    assert route.call_count == 2


async def test_post_is_retried_on_429() -> None:
    """A 429 means the server did not process the request: POST is retried."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(201, json={"id": 1}),
    ]
    async with portal.client() as api:
        await api._port.sender().send("POST", "bunits/22/consumers", json_body={"name": "x"})
    assert route.call_count == 2


async def test_retry_after_is_honoured_and_capped(caplog: pytest.LogCaptureFixture) -> None:
    """The wait before a retry is the server's Retry-After, capped by max_retry_after."""
    caplog.set_level(logging.INFO, logger="cloutility_async")
    portal = FakePortal()
    route = portal.route("GET", "fullVersion")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "0.05"}),
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(200, json="1.0"),
    ]
    async with portal.client(max_retry_after=0.1) as api:
        before = anyio.current_time()
        assert await api.full_version() == "1.0"
        waited = anyio.current_time() - before
    waits = [
        r.getMessage().rsplit("waiting ", 1)[1]
        for r in caplog.records
        if "retry_scheduled" in r.getMessage()
    ]
    assert waits == ["0.050 s", "0.100 s"]
    assert waited >= 0.15


async def test_rate_limit_error_after_retries_are_exhausted() -> None:
    """Persistent 429s end in RateLimitError after max_retries retries."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion", status_code=429, headers={"Retry-After": "0"})
    async with portal.client(max_retries=2) as api:
        with pytest.raises(RateLimitError):
            await api.full_version()
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (
            400,
            {"status": 400, "code": "E1", "message": "Name is required", "developerMessage": "x"},
            BadRequestError,
            "Name is required",
        ),
        (403, {"message": "Forbidden here"}, PermissionDeniedError, "Forbidden here"),
        (404, {"message": "No such consumer"}, NotFoundError, "No such consumer"),
        (500, None, ServerError, "Internal Server Error"),
    ],
)
async def test_error_statuses_map_to_typed_errors(
    status: int, body: object, error: type[APIError], message: str
) -> None:
    """Each error status has its own type carrying method, URL, status and message."""
    portal = FakePortal()
    kwargs = {"json": body} if body is not None else {"text": "<html>oops</html>"}
    portal.route("GET", "bunits/5", status_code=status, **kwargs)
    async with portal.client(max_retries=0) as api:
        with pytest.raises(error) as info:
            await api._port.sender().request_json("GET", "bunits/5")
    assert info.value.status == status
    assert info.value.method == "GET"
    assert info.value.url == "https://portal.test/v1/bunits/5"
    assert message in str(info.value)
    assert "https://portal.test/v1/bunits/5" in str(info.value)


async def test_html_body_on_success_is_a_decode_error() -> None:
    """A 200 that carries an HTML page instead of JSON raises DecodeError."""
    portal = FakePortal()
    portal.route(
        "GET",
        "fullVersion",
        text="<html><body>Maintenance</body></html>",
        headers={"Content-Type": "text/html"},
    )
    async with portal.client() as api:
        with pytest.raises(DecodeError) as info:
            await api.full_version()
    assert info.value.status == 200
    assert "text/html" in str(info.value)


async def test_credentials_are_never_sent_to_another_host() -> None:
    """An absolute URL on another origin gets neither the bearer token nor a retry of auth."""
    portal = FakePortal()
    foreign = portal.router.get("https://evil.example/steal").mock(
        return_value=httpx.Response(200, json={})
    )
    async with portal.client() as api:
        await api._port.sender().request_json("GET", "https://evil.example/steal")
    request = foreign.calls.last.request
    assert "authorization" not in request.headers


async def test_another_port_or_scheme_is_another_origin() -> None:
    """Scheme and port count: http:// or :8443 on the API's host get no credentials."""
    portal = FakePortal()
    plain = portal.router.get("http://portal.test/v1/x").mock(
        return_value=httpx.Response(200, json={})
    )
    port = portal.router.get("https://portal.test:8443/v1/x").mock(
        return_value=httpx.Response(200, json={})
    )
    async with portal.client() as api:
        await api._port.sender().request_json("GET", "http://portal.test/v1/x")
        await api._port.sender().request_json("GET", "https://portal.test:8443/v1/x")
    assert "authorization" not in plain.calls.last.request.headers
    assert "authorization" not in port.calls.last.request.headers


async def test_redirect_to_another_origin_is_refused() -> None:
    """A redirect off the API's origin is not followed (the token would leak)."""
    portal = FakePortal()
    portal.route("GET", "bunits", status_code=302, headers={"Location": "https://evil.example/x"})
    foreign = portal.router.get("https://evil.example/x").mock(
        return_value=httpx.Response(200, json={})
    )
    async with portal.client() as api:
        with pytest.raises(APIError, match="another origin"):
            await api._port.sender().request_json("GET", "bunits")
    assert foreign.call_count == 0


async def test_same_origin_redirect_is_followed_with_credentials() -> None:
    """A redirect within the API is followed, re-sending the bearer token."""
    portal = FakePortal()
    portal.route("GET", "bunits", status_code=301, headers={"Location": "/v1/bunits2"})
    target = portal.route("GET", "bunits2", json={"id": 22})
    async with portal.client() as api:
        assert await api._port.sender().request_json("GET", "bunits") == {"id": 22}
    assert target.calls.last.request.headers["authorization"].startswith("Bearer ")


async def test_max_concurrency_caps_requests_in_flight() -> None:
    """No more than max_concurrency requests are ever in flight at once."""
    portal = FakePortal()
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json="1.0")

    portal.route("GET", "fullVersion", slow)
    async with portal.client(max_concurrency=4) as api:
        async with anyio.create_task_group() as tg:
            for _ in range(40):
                tg.start_soon(api.full_version)
        assert api.statistics().peak_in_flight == 4
    assert peak == 4


async def test_no_secret_reaches_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    """Password, access and refresh tokens never appear in logs, reprs or exceptions."""
    caplog.set_level(logging.DEBUG)
    portal = FakePortal(lifetime=0.4)
    route = portal.route("GET", "fullVersion")
    route.side_effect = [
        httpx.Response(401),
        httpx.Response(200, json="1.0"),
        httpx.Response(401),
        httpx.Response(401),
    ]
    texts: list[str] = []
    async with portal.client() as api:
        await api.full_version()
        await anyio.sleep(0.3)
        try:
            await api.full_version()
        except APIError as exc:
            texts += [str(exc), repr(exc)]
        texts += [
            repr(api),
            str(api),
            repr(api.token),
            str(api.token),
            repr(api._auth),
            repr(api.statistics()),
        ]
    texts.append(caplog.text)
    secrets = [PASSWORD, *portal.tokens, *portal.refresh_tokens]
    assert len(secrets) >= 4
    assert "Bearer ***" in caplog.text
    for text in texts:
        for secret in secrets:
            assert secret not in text


# -- the default transport over a real loopback socket (aiohttp on asyncio, httpx on trio) --


async def _drop_after_reading(stream: SocketStream, seen: list[bytes]) -> None:
    async with stream:
        data = b""
        with anyio.move_on_after(2):
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
        seen.append(data)


async def test_default_transport_never_replays_a_post_whose_connection_dropped() -> None:
    """Over a real socket, a POST whose connection closes unanswered is sent once only."""
    portal = FakePortal()
    seen: list[bytes] = []
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, lambda s: _drop_after_reading(s, seen))
            async with portal.client() as api:
                api._port.sender().transport = api._default_transport()
                # The bearer is only added on the API's origin; the drop server is elsewhere.
                with pytest.raises(TransportError) as info:
                    await api._port.sender().send(
                        "POST", f"http://127.0.0.1:{port}/v1/consumers", json_body={"name": "x"}
                    )
                await api._port.sender().transport.aclose()
            tg.cancel_scope.cancel()
    assert len(seen) == 1
    assert seen[0].startswith(b"POST /v1/consumers")
    assert info.value.method == "POST"


async def test_default_transport_retries_a_post_that_could_not_connect() -> None:
    """A refused connection is retried even for POST, then raises TransportError."""
    portal = FakePortal()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with portal.client(max_retries=2) as api:
        sender = api._port.sender()
        sender.transport = api._default_transport()
        before = sender.stats.requests
        with pytest.raises(TransportError):
            await api._port.sender().send(
                "POST", f"http://127.0.0.1:{port}/v1/consumers", json_body={"name": "x"}
            )
        assert sender.stats.requests - before == 3
        await sender.transport.aclose()


async def test_an_unreadable_retry_after_falls_back_to_backoff() -> None:
    """Retry-After: soon is neither seconds nor a date: the retry uses backoff, nothing raises."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "soon"}),
        httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, json="1.0"),
    ]
    async with portal.client() as api:
        assert await api.full_version() == "1.0"
    assert route.call_count == 3


async def test_a_corrupt_compressed_body_is_a_decode_error() -> None:
    """A gzip body that does not inflate raises DecodeError, not httpx's DecodingError."""
    portal = FakePortal()
    portal.route(
        "GET", "fullVersion", content=b"definitely not gzip", headers={"Content-Encoding": "gzip"}
    )
    async with portal.client() as api:
        with pytest.raises(DecodeError, match="could not be decoded"):
            await api.full_version()


async def test_requests_that_queued_past_expiry_send_the_new_token() -> None:
    """A request picks its token when it gets a slot, so a long queue causes no 401s."""
    portal = FakePortal(lifetime=1.0)

    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.1)
        return httpx.Response(200, json="1.0")

    portal.route("GET", "fullVersion", slow)
    async with portal.client(max_concurrency=2, refresh_margin=0.3) as api:
        async with anyio.create_task_group() as tg:
            for _ in range(30):
                tg.start_soon(api.full_version)
        stats = api.statistics()
    assert stats.replays_after_401 == 0
    assert stats.refresh_grants >= 1


async def test_a_streamed_body_is_not_replayed_on_a_redirect() -> None:
    """A 307 after an upload cannot be followed: the stream is spent."""
    portal = FakePortal()
    portal.route("POST", "bunits/22/invoicefiles", status_code=307, headers={"Location": "/v1/x"})

    async def chunks() -> AsyncIterator[bytes]:
        yield b"%PDF-1.7 ..."

    async with portal.client() as api:
        with pytest.raises(APIError, match="streamed body"):
            await api.bunit(22).upload_invoice_file(chunks(), filename="a.pdf")


async def test_a_request_still_retrying_when_the_client_closes_stops() -> None:
    """After the client is closed, a retry loop raises ClientStateError instead of reopening."""
    from cloutility_async import ClientStateError

    portal = FakePortal()
    portal.route("GET", "fullVersion", status_code=503)
    errors: list[Exception] = []
    api = portal.client(backoff_base=0.2, max_retries=5)

    async def call() -> None:
        try:
            await api.full_version()
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg, api:
        tg.start_soon(call)
        await anyio.sleep(0.05)
    assert len(errors) == 1
    assert isinstance(errors[0], ClientStateError)


async def test_no_origin_header_goes_to_another_host() -> None:
    """Origin belongs to the API's client registration: other hosts do not get it either."""
    portal = FakePortal()
    foreign = portal.router.get("https://other.example/x").mock(
        return_value=httpx.Response(200, json={})
    )
    async with portal.client() as api:
        await api._port.sender().request_json("GET", "https://other.example/x")
    assert "origin" not in foreign.calls.last.request.headers


async def test_a_delete_whose_answer_was_lost_and_then_404s_has_succeeded() -> None:
    """The first attempt may have deleted: a retry's 404 means done, and it is counted."""
    portal = FakePortal()
    route = portal.route("DELETE", "bunits/22/consumers/408")
    route.side_effect = [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(404, json={"message": "No such consumer"}),
    ]
    async with portal.client() as api:
        await api.bunit(22).consumer(408).delete()
        stats = api.statistics()
    assert route.call_count == 2
    assert stats.deletes_already_gone == 1
    assert stats.retries == 1


async def test_a_delete_after_a_gateway_timeout_that_then_404s_has_succeeded() -> None:
    """A 504 says the portal behind the gateway may have acted: the retry's 404 is success."""
    portal = FakePortal()
    route = portal.route("DELETE", "bunits/22/consumers/408")
    route.side_effect = [httpx.Response(504), httpx.Response(404)]
    async with portal.client() as api:
        await api.bunit(22).consumer(408).delete()
        assert api.statistics().deletes_already_gone == 1


@pytest.mark.parametrize(
    "first",
    [
        None,  # the first attempt itself answers 404
        httpx.Response(503),  # the server refused to act at all
        httpx.ConnectError("refused"),  # never reached the server
    ],
)
async def test_a_delete_of_something_that_never_existed_is_not_found(first: object) -> None:
    """A 404 with no earlier attempt that may have deleted stays NotFoundError."""
    portal = FakePortal()
    route = portal.route("DELETE", "bunits/22/consumers/408")
    gone = httpx.Response(404, json={"message": "No such consumer"})
    route.side_effect = [gone] if first is None else [first, gone]
    async with portal.client() as api:
        with pytest.raises(NotFoundError, match="No such consumer"):
            await api.bunit(22).consumer(408).delete()
        assert api.statistics().deletes_already_gone == 0


async def test_a_get_of_a_safe_route_is_retried_on_500() -> None:
    """A read changes nothing, so a 500 is worth another try."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22")
    route.side_effect = [httpx.Response(500), httpx.Response(200, json={"id": 22})]
    async with portal.client() as api:
        unit = await api.bunit(22).get()
    assert unit.id == 22
    assert route.call_count == 2


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST"])
async def test_a_write_is_not_retried_on_500(method: str) -> None:
    """A 500 after a write may have left it half done: it is reported, not repeated."""
    portal = FakePortal()
    route = portal.route(method, "bunits/22", status_code=500)
    async with portal.client() as api:
        with pytest.raises(ServerError):
            await api._port.sender().send(method, "bunits/22", json_body={"name": "x"})
    assert route.call_count == 1


ACTIVATE = "bunits/22/consumers/408/node/activate"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.Response(503),
        httpx.Response(500),
    ],
)
async def test_activate_is_not_retried_once_it_may_have_reached_the_portal(
    failure: object,
) -> None:
    """GET .../node/activate changes state: after a maybe-sent failure it is not repeated."""
    portal = FakePortal()
    route = portal.route("GET", ACTIVATE)
    route.side_effect = [failure, httpx.Response(200, json="Activated")]
    async with portal.client() as api:
        with pytest.raises((TransportError, ServerError)):
            await api.bunit(22).consumer(408).node.activate("JENNY")
    assert route.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.Response(429, headers={"Retry-After": "0"})],
)
async def test_activate_is_retried_when_it_certainly_did_not_act(failure: object) -> None:
    """A refused connection or a 429 means the portal never acted: activate is tried again."""
    portal = FakePortal()
    route = portal.route("GET", ACTIVATE)
    route.side_effect = [failure, httpx.Response(200, json="Activated")]
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).node.activate("JENNY") == "Activated"
    assert route.call_count == 2


def test_bodies_are_decoded_by_orjson_when_the_speed_extra_is_installed() -> None:
    """With orjson installed (the test extra has it) it decodes bodies; json decides the rest."""
    import orjson

    from cloutility_async import _responses, _transport

    assert _responses._fast_loads is orjson.loads
    ok = httpx.Response(200, content=b'{"name": "Caf\xc3\xa9", "n": [1, 2.5]}')
    assert _transport.Sender.decode_json(ok) == {"name": "Café", "n": [1, 2.5]}
    # orjson refuses NaN; the standard library reads it as Python always did.
    nan = _transport.Sender.decode_json(httpx.Response(200, content=b'{"x": NaN}'))
    assert nan["x"] != nan["x"]
