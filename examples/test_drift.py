import pytest

from cloutility_async import Cloutility
from cloutility_async.testing import Drift, Simulator


@pytest.mark.anyio
async def test_the_walk_survives_a_drifting_portal() -> None:
    sim = Simulator(drift=Drift(seed=3, rate=0.3))
    async with Cloutility(**sim.client_options()) as api:
        entries = [entry async for entry in api.walk_consumers()]
        for entry in entries[:5]:
            await entry.ref.get()
    world = sim.world
    assert len(entries) == sum(1 for _ in world.consumers_in_tree(world.root_id))
    assert sum(sim.drift.counts.values()) > 0
