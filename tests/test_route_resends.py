"""The h11 transport sends nothing twice: a drop is the sender's to resend, counted.

``test_hidden_resends`` pins it for aiohttp, whose hidden resend is off. The h11
transport (trio's default) used to send a request once more itself when a reused
connection dropped before a byte of the answer: unseen by statistics and hooks, and
``GET .../node/activate`` (an idempotent method on a route that may not be repeated)
would have activated the node twice. Both backends, with the h11 transport given
explicitly.
"""

from __future__ import annotations

import pytest

from cloutility_async import Cloutility, RetryScheduled, TransportError
from cloutility_async._h11_transport import H11Transport
from tests.rawserver import RawServer, Reply
from tests.recording import Recorder
from tests.test_hidden_resends import ACTIVATE, dropping, warm_up
from tests.test_secrets import Portal, client_for

pytestmark = pytest.mark.anyio


def client(server: RawServer, recorder: Recorder | None = None) -> Cloutility:
    hooks = [] if recorder is None else [recorder]
    return client_for(
        server, transport=H11Transport(), max_retries=2, backoff_base=0.5, hooks=hooks
    )


async def test_activate_on_a_dropped_reused_connection_is_sent_once() -> None:
    portal = Portal(routes={ACTIVATE: dropping(1, Reply.json("Activated"))})
    async with RawServer(portal) as server, client(server) as api:
        await warm_up(api, server)
        with pytest.raises(TransportError):
            await api.bunit(22).consumer(408).node.activate("JENNY")
        assert api.statistics().retries == 0
    assert len(server.requests_to(ACTIVATE)) == 1


async def test_a_read_on_a_dropped_reused_connection_is_the_senders_counted_resend() -> None:
    """Sent again at once (no backoff of 0.5 s), on a second connection, and counted."""
    portal = Portal(routes={"fullVersion": dropping(2, Reply.json("1.0"))})
    recorder = Recorder()
    async with RawServer(portal) as server, client(server, recorder) as api:
        await warm_up(api, server)
        assert await api.full_version() == "1.0"
        assert api.statistics().retries == 1
    assert [e.delay for e in recorder.of(RetryScheduled)] == [0.0]
    assert len(server.requests_to("fullVersion")) == 3
    assert server.connections == 2
