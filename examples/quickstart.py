"""Log in and print the portal's version, against the in-process simulator."""

from __future__ import annotations

import anyio

from cloutility_async import Cloutility
from cloutility_async.testing import Simulator


async def main() -> None:
    sim = Simulator()
    async with Cloutility(**sim.client_options()) as api:
        print("Cloutility", await api.full_version())


if __name__ == "__main__":
    anyio.run(main)
