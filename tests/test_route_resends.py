"""A route that may not be repeated is never sent twice by the h11 transport either.

``test_hidden_resends`` pins it for aiohttp, whose hidden resend is off. The h11
transport (trio's default) sends a request once more when a reused connection
drops before a byte of the answer, if its method is idempotent: ``GET
.../node/activate`` is, but its route is not retry-safe, and the portal would
activate the node twice. Both backends, with the h11 transport given explicitly.
"""

from __future__ import annotations

import httpx
import pytest

from cloutility_async import Cloutility, RetryPolicy, TransportError
from cloutility_async._h11_transport import H11Transport, _retry_safe
from cloutility_async._requests import RETRY_SAFE, Call, PlainRequest, RequestBuilder
from tests.rawserver import DROP, Action, RawServer, Received, Reply
from tests.test_hidden_resends import ACTIVATE, dropping, warm_up
from tests.test_secrets import Portal, client_for

pytestmark = pytest.mark.anyio


def client(server: RawServer) -> Cloutility:
    return client_for(server, transport=H11Transport(), max_retries=2, backoff_base=0)


async def test_activate_on_a_dropped_reused_connection_is_sent_once() -> None:
    portal = Portal(routes={ACTIVATE: dropping(1, Reply.json("Activated"))})
    async with RawServer(portal) as server, client(server) as api:
        await warm_up(api, server)
        with pytest.raises(TransportError):
            await api.bunit(22).consumer(408).node.activate("JENNY")
        assert api.statistics().retries == 0
    assert len(server.requests_to(ACTIVATE)) == 1


async def test_a_read_on_a_dropped_reused_connection_is_still_sent_again_at_once() -> None:
    """A plain GET keeps the transport's resend: answered, on a second connection, and
    no retry of the policy's (no backoff)."""
    portal = Portal(routes={"fullVersion": dropping(2, Reply.json("1.0"))})
    async with RawServer(portal) as server, client(server) as api:
        await warm_up(api, server)
        assert await api.full_version() == "1.0"
        assert api.statistics().retries == 0
    assert len(server.requests_to("fullVersion")) == 3
    assert server.connections == 2


async def test_an_httpx_request_marked_not_retry_safe_is_not_sent_again() -> None:
    """A request with a body goes as an httpx request; the sender marks one whose route
    may not be repeated with the ``RETRY_SAFE`` extension, which the transport obeys."""
    sent: list[Received] = []

    async def handler(received: Received) -> Action:
        sent.append(received)
        return DROP if len(sent) == 2 else Reply(body=b"ok")

    async with (
        RawServer(handler) as server,
        httpx.AsyncClient(transport=H11Transport(), base_url=server.base_url) as http,
    ):
        assert (await http.get("warm")).content == b"ok"
        with pytest.raises(httpx.RemoteProtocolError):
            await http.put("x", content=b"{}", extensions={RETRY_SAFE: False})
    assert [r.path for r in sent] == ["/v1/warm", "/v1/x"]


@pytest.mark.parametrize("plain", [True, False])
def test_the_sender_marks_each_request_of_a_route_that_may_not_be_repeated(plain: bool) -> None:
    api = httpx.URL("https://portal.test/v1/")
    builder = RequestBuilder(
        origin="https://app.example", user_agent="ua", timeout=httpx.Timeout(5), api_url=api
    )
    body = None if plain else b"{}"
    marks = []
    for retry_safe in (True, False):
        call = Call("GET", api.join("x"), body, None, {}, RetryPolicy(), builder.timeout)
        call.retry_safe = retry_safe
        request = builder.for_call(call, "tok", True, plain=True)
        assert (type(request) is PlainRequest) is plain
        marks.append(_retry_safe(request))
    assert marks == [True, False]
