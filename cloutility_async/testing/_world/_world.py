"""The :class:`World`: the seeded portal state with its writes and its billing."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from ._billing import WorldBilling
from ._generation import populate
from ._mutations import WorldMutations

__all__ = ["World"]


class World(WorldMutations, WorldBilling):
    """All simulated portal state, with lookups for tests.

    Generation is deterministic for a ``seed`` and a ``now``: the tree and the consumers'
    identities are built at once (cheap even for 50,000 consumers), each consumer's
    details on first use from its own RNG, so access order never changes the data.
    ``now`` anchors every generated date (default: the current time); the world's clock
    then advances with real time (:meth:`current_time`).
    """

    def __init__(
        self,
        *,
        consumers: int = 40,
        seed: int = 0,
        now: datetime | None = None,
        username: str = "demo",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if consumers < 0:
            raise ValueError("consumers must be >= 0")
        super().__init__(seed=seed, now=now, username=username, clock=clock)
        populate(self, consumers)

    def __repr__(self) -> str:
        return (
            f"World(seed={self.seed}, bunits={len(self.bunits)}, "
            f"consumers={len(self.consumers)}, now={self.now.isoformat()})"
        )
