from pathlib import Path

import httpx
import pytest
from app import app

from cloutility_async.testing import Simulator
from cloutility_async.testing.pytest_plugin import SimulatorServer


@pytest.fixture
def portal(
    cloutility_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Simulator:
    sim = cloutility_server.simulator
    for name, value in sim.environment(cloutility_server.base_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("app.TOKEN_FILE", str(tmp_path / "token.json"))
    return sim


@pytest.mark.anyio
async def test_lists_the_consumers_of_a_unit(portal: Simulator) -> None:
    unit = portal.world.root_id
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://app.test") as client,
    ):
        response = await client.get(f"/bunits/{unit}/consumers")
    assert response.status_code == 200
    names = {c.name for c in portal.world.consumers_in_tree(unit) if c.bu_id == unit}
    assert {row["name"] for row in response.json()} == names


@pytest.mark.anyio
async def test_two_workers_share_one_login(portal: Simulator) -> None:
    for _ in range(2):  # two lifespans, as two worker processes would run them
        async with app.router.lifespan_context(app):
            pass
    assert portal.stats.grants["password"] == 1
