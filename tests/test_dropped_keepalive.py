"""A keep-alive connection the server drops unanswered costs a GET no backoff, no budget.

aiohttp sent such a request again at once, even with ``max_retries=0``, unseen; with
that hidden resend off (``test_hidden_resends``), the sender does the same for a
retry-safe request, counted and reported, at once: not after the policy's backoff
(up to 0.4 s by default), and not refused by ``max_retries=0``.

Both backends, each with its default transport: on asyncio the drop reaches the
sender as aiohttp's ``ServerDisconnectedError``, on trio as the h11 transport's
error marked ``dropped`` (it sends nothing twice itself either).
"""

from __future__ import annotations

import pytest

from cloutility_async import RetryScheduled, TransportError
from tests.rawserver import DROP, RawServer, Reply
from tests.recording import Recorder
from tests.test_hidden_resends import ACTIVATE, dropping, warm_up
from tests.test_secrets import Portal, client_for

pytestmark = pytest.mark.anyio


async def test_a_dropped_keep_alive_get_is_sent_again_at_once_and_counted() -> None:
    """Default policy (backoff 0.2 s): the retry waits 0 s, statistics and hooks see it."""
    portal = Portal(routes={"fullVersion": dropping(2, Reply.json("1.0"))})
    recorder = Recorder()
    async with RawServer(portal) as server, client_for(server, hooks=[recorder]) as api:
        await warm_up(api, server)
        assert await api.full_version() == "1.0"
        assert api.statistics().retries == 1
    assert [e.delay for e in recorder.of(RetryScheduled)] == [0.0]
    assert len(server.requests_to("fullVersion")) == 3


async def test_it_is_sent_again_with_max_retries_0_too() -> None:
    portal = Portal(routes={"fullVersion": dropping(2, Reply.json("1.0"))})
    async with RawServer(portal) as server, client_for(server, max_retries=0) as api:
        await warm_up(api, server)
        assert await api.full_version() == "1.0"
        assert api.statistics().retries == 1


async def test_only_once_and_never_for_activate() -> None:
    """A second drop is the policy's (none left at max_retries=0); activate is never resent."""
    portal = Portal(
        routes={"fullVersion": lambda p, r: DROP, ACTIVATE: dropping(1, Reply.json("Activated"))}
    )
    async with RawServer(portal) as server, client_for(server, max_retries=0) as api:
        with pytest.raises(TransportError):
            await api.full_version()
        assert len(server.requests_to("fullVersion")) == 2
        with pytest.raises(TransportError):
            await api.bunit(22).consumer(408).node.activate("JENNY")
    assert len(server.requests_to(ACTIVATE)) == 1


async def test_a_create_on_a_dropped_reused_connection_is_sent_once() -> None:
    """A POST may have been acted on: the drop is its error, whatever the budget."""
    created = "bunits/22/consumers"
    portal = Portal(routes={created: dropping(1, Reply.json({"id": 1, "name": "x"}))})
    async with RawServer(portal) as server, client_for(server, max_retries=3) as api:
        await warm_up(api, server)
        with pytest.raises(TransportError):
            await api.bunit(22).create_consumer(name="new")
        assert api.statistics().retries == 0
    assert len(server.requests_to(created)) == 1
