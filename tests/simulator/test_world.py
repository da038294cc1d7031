"""The seeded world: deterministic by seed, cheap at 50,000 consumers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cloutility_async.testing import Simulator

from ._helpers import UTC

pytestmark = pytest.mark.anyio


def test_world_is_deterministic_by_seed() -> None:
    """Same seed and now: identical data; another seed: a different world."""
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    a, b, c = (Simulator(seed=s, now=now) for s in (7, 7, 8))

    def snapshot(sim: Simulator) -> list[Any]:
        world = sim.world
        return [
            [(bu.id, bu.parent_id, bu.raw) for bu in world.bunits.values()],
            [
                (
                    x.id,
                    x.bu_id,
                    x.name,
                    world.details(x).raw,
                    x.node,
                    [j.raw for j in x.jobs],
                    [e.message for e in x.audit],
                )
                for x in world.consumers.values()
            ],
        ]

    assert snapshot(a) == snapshot(b)
    assert snapshot(a) != snapshot(c)
    # Lazily generated details do not depend on access order.
    d = Simulator(seed=7, now=now)
    d.world.consumer(430)
    assert d.world.consumer(420).raw == a.world.consumer(420).raw


def test_world_of_50000_consumers_builds_whole() -> None:
    """A 50,000-consumer world holds every consumer in the tree (no timing: a shared machine)."""
    sim = Simulator(consumers=50_000)
    world = sim.world
    in_tree = sum(1 for c in world.consumers.values() if world.is_within(c.bu_id, 22))
    assert in_tree == 50_000
    assert len(world.bunits) > 100
    last = world.consumer(408 + 49_999)
    assert last.raw["id"] == 408 + 49_999
