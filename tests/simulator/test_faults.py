"""Faults: latency, 429s, 5xx, HTML pages, drops, injected answers, counters."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from cloutility_async.testing import (
    Faults,
    SimulatedDisconnect,
    Simulator,
    SimulatorStats,
)

from ._helpers import (
    ERROR_KEYS,
    open_client,
    password_grant,
)

pytestmark = pytest.mark.anyio


async def test_latency_fault(http: httpx.AsyncClient, sim: Simulator) -> None:
    """latency_ms delays every answer (but not the token endpoint by default)."""
    sim.faults.latency_ms = 60
    started = time.perf_counter()
    response = await http.get("fullVersion")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.055
    assert (await password_grant(http, sim)).status_code == 200
    assert sim.stats.faults_injected["latency"] == 1  # the token endpoint was not delayed


async def test_rate_limit_fault_sends_retry_after(http: httpx.AsyncClient, sim: Simulator) -> None:
    """rate_limit_rate answers 429 with Retry-After (fractional seconds allowed)."""
    sim.faults.rate_limit_rate = 1.0
    sim.faults.retry_after = 0.05
    fractional = await http.get("bunits")
    sim.faults.retry_after = 2
    whole = await http.get("bunits")
    assert fractional.status_code == whole.status_code == 429
    assert fractional.headers["retry-after"] == "0.05"
    assert whole.headers["retry-after"] == "2"
    assert fractional.json()["status"] == 429
    sim.faults.rate_limit_rate = 0.0
    assert (await http.get("bunits")).status_code == 200
    assert sim.stats.faults_injected["rate_limit"] == 2


async def test_server_error_fault_mixes_json_and_html(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """server_error_rate answers 502/503/504 with JSON or an HTML gateway page."""
    sim.faults.server_error_rate = 1.0
    responses = [await http.get("fullVersion") for _ in range(12)]
    assert {r.status_code for r in responses} <= {502, 503, 504}
    kinds = {r.headers["content-type"].split(";")[0] for r in responses}
    assert kinds == {"application/json", "text/html"}


async def test_html_error_fault(http: httpx.AsyncClient, sim: Simulator) -> None:
    """html_error_rate answers an HTML page, sometimes with status 200."""
    sim.faults.html_error_rate = 1.0
    responses = [await http.get("me") for _ in range(10)]
    assert all(r.headers["content-type"].startswith("text/html") for r in responses)
    assert {r.status_code for r in responses} == {200, 500}
    assert all(r.text.lstrip().startswith("<") for r in responses)


async def test_injected_faults_answer_the_next_matching_requests(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """ "The next 2 GETs of consumers get 503", then normal service resumes."""
    rule = sim.faults.inject("GET /bunits/*/consumers", 503, times=2)
    other = await http.get("bunits/22")
    first = await http.get("bunits/22/consumers")
    second = await http.get("bunits/22/consumers")
    third = await http.get("bunits/22/consumers")
    assert other.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert set(first.json()) == ERROR_KEYS
    assert rule.hits == 2
    assert rule.exhausted
    assert sim.faults.pending == []
    sim.faults.next_responses(429, 500, match="GET")
    statuses = [(await http.get("fullVersion")).status_code for _ in range(3)]
    assert statuses == [429, 500, 200]
    custom = sim.faults.inject("/fullVersion", 200, body="<html>login</html>")
    page = await http.get("fullVersion")
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == "<html>login</html>"
    assert custom.exhausted
    assert sim.stats.faults_injected["injected"] == 5


async def test_drop_fault_in_process_raises_remote_protocol_error(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """In-process, a dropped connection surfaces as httpx.RemoteProtocolError."""
    sim.faults.drop_next("GET /fullVersion")
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await http.get("fullVersion")
    assert isinstance(info.value, SimulatedDisconnect)
    assert (await http.get("fullVersion")).status_code == 200
    sim.faults.drop_rate = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get("me")
    assert sim.stats.faults_injected["drop"] == 1


async def test_lost_response_after_the_write_happened(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """inject(after=True) runs the handler and then loses its answer."""
    sim.faults.inject("POST /bunits/22/consumers", 504, after=True)
    lost = await http.post("bunits/22/consumers", json={"name": "GhostWS"})
    assert lost.status_code == 504
    assert sim.stats.creates["GhostWS"] == 1
    assert len(sim.world.find_consumers("GhostWS")) == 1


async def test_faults_skip_oauth_unless_included(sim: Simulator, anyio_backend: str) -> None:
    """Random faults leave the token endpoint alone unless include_oauth is set."""
    sim.faults.server_error_rate = 1.0
    async with open_client(sim, authed=False) as client:
        assert (await password_grant(client, sim)).status_code == 200
        sim.faults.include_oauth = True
        assert (await password_grant(client, sim)).status_code in (502, 503, 504)


def test_random_faults_are_seeded() -> None:
    """The same seed gives the same fault sequence."""

    def sequence(seed: int) -> list[str]:
        faults = Faults(server_error_rate=0.3, rate_limit_rate=0.2, seed=seed)
        out = []
        for _ in range(50):
            fault = faults.random_fault()
            out.append("ok" if fault is None else f"{fault.kind}:{fault.status}")
        return out

    assert sequence(1) == sequence(1)
    assert sequence(1) != sequence(2)
    assert {"ok", "rate_limit:429"} <= set(sequence(1))


async def test_concurrency_is_tracked(http: httpx.AsyncClient, sim: Simulator) -> None:
    """in_flight/peak_in_flight count concurrent requests inside the app."""
    sim.faults.latency_ms = 100
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(http.get, "fullVersion")
    assert sim.stats.peak_in_flight == 5
    assert sim.stats.in_flight == 0
    assert sim.stats.requests["GET /fullVersion"] == 5
    assert sim.stats.statuses[200] == 5
    sim.stats.reset()
    assert sim.stats.requests_total == 0
    assert sim.stats.grants == {"password": 0, "refresh_token": 0}


async def test_requests_are_counted_by_route_template(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    """stats.requests keys are route templates."""
    await http.get("bunits/22/consumers/408")
    await http.get("bunits/76/consumers")
    await http.get("does/not/exist")
    assert sim.stats.requests["GET /bunits/{id}/consumers/{id}"] == 1
    assert sim.stats.requests["GET /bunits/{id}/consumers"] == 1
    assert sim.stats.requests["GET <unknown>"] == 1
    assert sim.stats.requests_total == 3
    assert isinstance(sim.stats, SimulatorStats)
