"""Log in and print the portal's version, against the in-process simulator."""

from __future__ import annotations

import anyio
import httpx

from cloutility_async import Cloutility
from cloutility_async.testing import Simulator


async def main() -> None:
    sim = Simulator()
    async with Cloutility(
        client_id=sim.client_id,
        origin=sim.origin,
        username=sim.username,
        password=sim.password,
        base_url="http://simulator.local/v1/",
        transport=httpx.ASGITransport(app=sim.app),
    ) as api:
        print("Cloutility", await api.full_version())


if __name__ == "__main__":
    anyio.run(main)
