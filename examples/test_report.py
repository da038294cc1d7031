import pytest

from cloutility_async import Cloutility
from cloutility_async.testing import Simulator


@pytest.mark.anyio
async def test_every_consumer_is_listed(
    cloutility_client: Cloutility, cloutility_simulator: Simulator
) -> None:
    world = cloutility_simulator.world
    names = {entry.consumer.name async for entry in cloutility_client.walk_consumers()}
    assert names == {c.name for c in world.consumers_in_tree(world.root_id)}


@pytest.mark.anyio
async def test_a_transient_failure_is_retried(
    cloutility_client: Cloutility, cloutility_simulator: Simulator
) -> None:
    cloutility_simulator.faults.inject("GET /bunits/*/consumers", 503)  # the next one fails
    entries = [entry async for entry in cloutility_client.walk_consumers()]
    assert entries  # the client retried; nothing was lost
    assert cloutility_simulator.faults.pending == []  # the fault did fire
