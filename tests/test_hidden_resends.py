"""No request is sent again behind the SDK's back: the retry policy decides every resend.

aiohttp (on asyncio) resends an idempotent-method request once when its connection
drops before the answer (``ClientSession._retry_connection``), reused or not, and
counts it nowhere. A ``GET .../node/activate`` is such a method but not retry-safe:
it would be activated twice. With that resend off, a dropped connection is the
retry policy's to decide: not repeated for activate, repeated (and counted, and
reported to the hooks) for a read.

Asyncio only by design: the resend is aiohttp's, the asyncio transport; that the
h11 transport sends nothing twice either is pinned in ``test_route_resends`` and
``test_h11_transport``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from cloutility_async import Cloutility, RequestStarted, RetryScheduled, TransportError
from cloutility_async._aiohttp_transport import AiohttpTransport
from tests.rawserver import DROP, Action, RawServer, Received, Reply
from tests.recording import Recorder
from tests.test_secrets import Portal, client_for

pytestmark = pytest.mark.anyio

ACTIVATE = "bunits/22/consumers/408/node/activate"


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: the resend is aiohttp's (see the module docstring)."""
    return "asyncio"


def dropping(nth: int, answer: Action) -> Callable[[Portal, Received], Action]:
    """The route's ``nth`` request: its connection closed without a byte; others: ``answer``."""
    seen: list[Received] = []

    def route(portal: Portal, request: Received) -> Action:
        seen.append(request)
        return DROP if len(seen) == nth else answer

    return route


def client(server: RawServer, recorder: Recorder) -> Cloutility:
    return client_for(server, max_retries=2, backoff_base=0, hooks=[recorder])


async def warm_up(api: Cloutility, server: RawServer) -> None:
    """One request answered on the client's one connection, which the next request reuses."""
    assert await api.full_version() == "1.0"
    assert server.connections == 1


async def test_activate_on_a_dropped_reused_connection_is_sent_once() -> None:
    """The connection drops under GET .../activate: TransportError, the portal saw it once."""
    portal = Portal(routes={ACTIVATE: dropping(1, Reply.json("Activated"))})
    async with RawServer(portal) as server, client(server, Recorder()) as api:
        await warm_up(api, server)
        with pytest.raises(TransportError):
            await api.bunit(22).consumer(408).node.activate("JENNY")
        assert api.statistics().retries == 0
    assert len(server.requests_to(ACTIVATE)) == 1


async def test_a_read_on_a_dropped_reused_connection_is_the_policys_counted_retry() -> None:
    """A GET whose reused connection drops is retried by the policy: statistics and hooks
    see both attempts, and the portal no more than those."""
    portal = Portal(routes={"fullVersion": dropping(2, Reply.json("1.0"))})
    recorder = Recorder()
    async with RawServer(portal) as server, client(server, recorder) as api:
        await warm_up(api, server)
        before = api.statistics()
        assert await api.full_version() == "1.0"
        after = api.statistics()
    assert len(server.requests_to("fullVersion")) == 3  # the warm-up, the dropped one, the retry
    assert (after.requests - before.requests, after.retries - before.retries) == (2, 1)
    started = [e for e in recorder.of(RequestStarted) if e.url.endswith("fullVersion")]
    assert [e.attempt for e in started] == [1, 1, 2]
    assert len(recorder.of(RetryScheduled)) == 1


async def test_a_dropped_fresh_connection_is_not_resent_either() -> None:
    """aiohttp's resend also covered a new connection: now one attempt per policy attempt."""
    portal = Portal(routes={"fullVersion": lambda p, r: DROP})
    async with (
        RawServer(portal) as server,
        client_for(server, max_retries=1, backoff_base=0) as api,
    ):
        with pytest.raises(TransportError):
            await api.full_version()
        assert api.statistics().requests == 2
    assert len(server.requests_to("fullVersion")) == 2


async def test_an_aiohttp_without_the_private_switch_is_used_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``_retry_connection`` is aiohttp's private attribute: a version without it still works."""
    real = aiohttp.ClientSession

    def without_the_switch(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real(*args, **kwargs)
        del session._retry_connection
        return session

    monkeypatch.setattr(aiohttp, "ClientSession", without_the_switch)
    transport = AiohttpTransport()
    try:
        session = transport._open_session()
        assert not hasattr(session, "_retry_connection")
    finally:
        await transport.aclose()
