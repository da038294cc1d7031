"""The SDK against the simulator: in-process (ASGI) and over a real loopback socket."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import anyio
import attrs
import pytest

from cloutility_async import (
    AuthenticationError,
    Cloutility,
    ConsumerEntry,
    NotFoundError,
    TransportError,
)
from cloutility_async.testing import Simulator

pytestmark = pytest.mark.anyio


def client_for(sim: Simulator, base_url: str | None = None, **options: object) -> Cloutility:
    """A client bound to ``sim``: over its ASGI app, or over a socket at ``base_url``."""
    settings = {
        **sim.client_options(base_url),
        "backoff_base": 0.01,
        "max_retry_after": 0.05,
        "strict": True,  # drift in the simulator must fail these tests
    }
    return Cloutility(**{**settings, **options})


async def audit(api: Cloutility) -> dict[int, tuple[str | None, int | None]]:
    """Fetch every consumer in full, concurrently; id -> (name, bunit id of the full record)."""

    async def fetch(entry: ConsumerEntry) -> tuple[str | None, int | None]:
        full = await entry.ref.get()
        return full.name, full.business_unit.id if full.business_unit else None

    found: dict[int, tuple[str | None, int | None]] = {}
    async with api.map(fetch, api.walk_consumers()) as results:
        async for result in results:
            found[result.item.id] = result.unwrap()
    return found


def truth(sim: Simulator) -> dict[int, tuple[str | None, int | None]]:
    """The consumers of the caller's tree, from the simulator's own state."""
    tree = sim.world.consumers_in_tree(sim.world.root_id)
    return {c.id: (c.name, c.bu_id) for c in tree}


@pytest.fixture
def sim() -> Simulator:
    return Simulator(consumers=60, seed=3)


@pytest.fixture
def served(sim: Simulator) -> AsyncIterator[str]:
    with sim.serve_in_thread(host="127.0.0.1", port=0) as base_url:
        yield base_url


async def test_bulk_audit_in_process_finds_every_consumer(sim: Simulator) -> None:
    """walk_consumers + map over ASGI returns exactly the simulator's consumers."""
    async with client_for(sim) as api:
        assert await audit(api) == truth(sim)


async def test_bulk_audit_over_a_loopback_socket(
    sim: Simulator, served: str, anyio_backend: str
) -> None:
    """The same audit through the default transport on a real socket (aiohttp, or h11 on trio)."""
    default = {"asyncio": "AiohttpTransport", "trio": "H11Transport"}[anyio_backend]
    async with client_for(sim, served) as api:
        assert api._port.sender().transport.__class__.__name__ == default
        assert await audit(api) == truth(sim)
    assert sim.stats.grants_total == 1


async def test_faults_lose_nothing_over_a_socket(sim: Simulator, served: str) -> None:
    """With 429s, 5xx pages and dropped connections, every consumer still arrives once."""
    sim.faults.rate_limit_rate = 0.05
    sim.faults.retry_after = "0.01"
    sim.faults.server_error_rate = 0.05
    sim.faults.drop_rate = 0.03
    async with client_for(sim, served, max_retries=8) as api:
        assert await audit(api) == truth(sim)
        assert api.statistics().retries > 0
    assert sum(sim.stats.faults_injected.values()) > 0


async def test_a_post_whose_answer_is_lost_is_not_sent_twice(sim: Simulator, served: str) -> None:
    """The server creates the consumer but the connection drops: no duplicate create."""
    sim.faults.inject("POST /bunits/*/consumers", drop=True, after=True)
    async with client_for(sim, served) as api:
        with pytest.raises(TransportError):
            await api.bunit(22).create_consumer(name="LisasWS")
    assert sim.stats.creates["LisasWS"] == 1


async def test_a_post_refused_with_503_is_not_retried(sim: Simulator) -> None:
    """A 503 on a create surfaces as an error after one attempt."""
    sim.faults.inject("POST /bunits/*/consumers", 503)
    async with client_for(sim) as api:
        with pytest.raises(Exception, match="503"):
            await api.bunit(22).create_consumer(name="OnceOnly")
    assert sim.stats.creates["OnceOnly"] == 0


async def test_tokens_are_refreshed_during_a_long_run(sim: Simulator) -> None:
    """With 1-second tokens, 1.6 s of steady calls never fail and refresh proactively."""
    sim.token_lifetime = 1.0
    async with client_for(sim) as api:
        deadline = anyio.current_time() + 1.6
        calls = 0
        while anyio.current_time() < deadline:
            assert await api.full_version() == "1.0.4480.0"
            calls += 1
            await anyio.sleep(0.01)
        stats = api.statistics()
    assert calls > 20
    assert stats.refresh_grants >= 2
    assert sim.stats.rejections.total() == 0


async def test_revoked_tokens_are_replaced_transparently(sim: Simulator) -> None:
    """After the portal revokes every token early, the next call re-authenticates once."""
    async with client_for(sim) as api:
        await api.full_version()
        sim.revoke_tokens()
        assert await api.full_version() == "1.0.4480.0"
        assert api.statistics().replays_after_401 == 1


async def test_bad_password_is_an_authentication_error(sim: Simulator) -> None:
    """The simulator's OAuth error body becomes AuthenticationError."""
    with pytest.raises(AuthenticationError) as info:
        async with client_for(sim, password="not-the-password"):
            pass
    assert info.value.error == "invalid_grant"


async def test_put_keeps_fields_the_sdk_does_not_model(sim: Simulator) -> None:
    """Reading, evolving and updating a consumer keeps every field the server holds."""
    async with client_for(sim) as api:
        consumer = api.bunit(22).consumer(408)
        before = await consumer.get()
        assert before.extra  # the simulator sends fields the models do not know
        after = await consumer.update(attrs.evolve(before, note="audited"))
        again = await consumer.get()
    assert after.note == again.note == "audited"
    assert again.extra == before.extra
    assert {k: v for k, v in again.raw.items() if k != "note"} == {
        k: v for k, v in before.raw.items() if k != "note"
    }


async def test_jobs_from_long_ago_are_clamped_not_rejected(sim: Simulator) -> None:
    """A start before the first job would be a 400 from the portal; the SDK clamps it."""
    async with client_for(sim) as api:
        jobs = await api.bunit(22).consumer(408).jobs(start=dt.date(2000, 1, 1))
    assert len(jobs) == len(sim.world.consumer(408).jobs)
    assert sim.stats.rejections.total() == 0


async def test_embedded_business_unit_is_fetched_in_full(sim: Simulator) -> None:
    """Following a consumer's partial businessUnit GETs the full business unit."""
    async with client_for(sim) as api:
        consumer = await api.bunit(22).consumer(408).get()
        assert consumer.business_unit is not None
        unit = await api.ref(consumer.business_unit).get()
    assert unit.id == 22
    assert unit.time_zone is not None


async def test_missing_node_is_not_found(sim: Simulator) -> None:
    """A consumer without a node answers 404, which the SDK raises as NotFoundError."""
    without = next(c for c in sim.world.consumers.values() if sim.world.node(c.id) is None)
    async with client_for(sim) as api:
        with pytest.raises(NotFoundError):
            await api.bunit(without.bu_id).consumer(without.id).node.get()


async def test_the_pytest_plugin_gives_a_ready_client(cloutility_client: Cloutility) -> None:
    """The `cloutility_client` fixture is logged in against an in-process simulator."""
    me = await cloutility_client.me()
    assert me.business_unit is not None


async def test_the_pytest_plugin_serves_on_loopback(cloutility_server: object) -> None:
    """The `cloutility_server` fixture listens on 127.0.0.1 and answers the SDK."""
    base_url = cloutility_server.base_url  # type: ignore[attr-defined]
    sim = cloutility_server.simulator  # type: ignore[attr-defined]
    assert base_url.startswith("http://127.0.0.1:")
    async with client_for(sim, base_url) as api:
        assert await api.full_version() == "1.0.4480.0"


async def test_an_upload_source_error_surfaces_as_itself_on_both_backends(
    sim: Simulator, served: str
) -> None:
    """A bad chunk from the caller's iterator is a ValidationError, not a network error."""
    from cloutility_async import ValidationError

    async def chunks() -> AsyncIterator[bytes]:
        yield b"%PDF-1.7 first part"
        yield "not bytes"  # type: ignore[misc]

    async with client_for(sim, served) as api:
        with pytest.raises(ValidationError, match="bytes"):
            await api.bunit(22).upload_invoice_file(chunks(), filename="bad.pdf")
