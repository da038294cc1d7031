"""The simulator on a real loopback socket, the reference's script, the CLI."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cloutility_async import Cloutility
from cloutility_async.testing import FULL_VERSION, SimulatedDisconnect, Simulator
from cloutility_async.testing._server import main as serve_main

from ._helpers import auth_headers, open_client, password_grant

pytestmark = pytest.mark.anyio


async def test_real_server_on_loopback(sim: Simulator, anyio_backend: str) -> None:
    """serve_in_thread serves over TCP; hrefs use the socket's address; drops cut the socket."""
    with sim.serve_in_thread() as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/", base_url)
        async with httpx.AsyncClient(base_url=base_url) as client:
            login = await password_grant(client, sim)
            headers = auth_headers(sim, login.json()["access_token"])
            consumer = (await client.get("bunits/22/consumers/408", headers=headers)).json()
            assert consumer["href"] == f"{base_url}bunits/22/consumers/408"
            sim.faults.drop_next("GET /fullVersion")
            with pytest.raises(httpx.RemoteProtocolError) as info:
                await client.get("fullVersion", headers=headers)
            assert not isinstance(info.value, SimulatedDisconnect)
            assert (await client.get("fullVersion", headers=headers)).json() == FULL_VERSION
            sim.faults.latency_ms = 20
            started = time.perf_counter()
            await client.get("fullVersion", headers=headers)
            assert time.perf_counter() - started >= 0.018
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(base_url + "fullVersion")


def test_real_server_answers_expect_100_continue(sim: Simulator) -> None:
    """A client sending Expect: 100-continue gets the interim answer, then the response."""
    import socket

    body = b'{"name": "ExpectWS"}'
    with sim.serve_in_thread() as base_url:
        port = int(base_url.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            head = (
                "POST /v1/bunits/22/consumers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {sim.issue_token()}\r\nOrigin: {sim.origin}\r\n"
                "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            conn.sendall(head.encode())
            interim = conn.recv(1024)
            assert interim.startswith(b"HTTP/1.1 100 Continue")
            conn.sendall(body)
            answer = b""
            while b"ExpectWS" not in answer:
                chunk = conn.recv(65536)
                assert chunk
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert sim.stats.creates["ExpectWS"] == 1


def test_reference_example_program_runs_against_the_simulator(tmp_path: Path) -> None:
    """The reference's own requests script prints the documented lines."""
    source = (Path(__file__).parents[1] / "reference_example.py").read_text()
    sim = Simulator()
    with sim.serve_in_thread() as base_url:
        script = source.replace(
            'CLOUTILITY_API_URL = "http://127.0.0.1:8080/v1/"', f'CLOUTILITY_API_URL = "{base_url}"'
        )
        assert script != source
        path = tmp_path / "example.py"
        path.write_text(script)
        result = subprocess.run(
            [sys.executable, str(path)], capture_output=True, text=True, timeout=30, check=False
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Got access token! Expires in 299 seconds.",
        "API call successful!",
        "API full version is: 1.0.4480.0",
        "Refreshed access token. Expires in 299 seconds.",
    ]
    assert sim.stats.grants == {"password": 1, "refresh_token": 1}


def test_cli_serves_until_sigterm() -> None:
    """`python -m cloutility_async.testing serve --port 0` prints READY and exits 0."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloutility_async.testing",
            "serve",
            "--port",
            "0",
            "--token-lifetime",
            "120",
            "--consumers",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("READY "):
                break
        base_url = lines[-1].split(" ", 1)[1]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/", base_url)
        text = "\n".join(lines)
        assert "demo-password" in text
        assert "https://sim.example" in text
        token = httpx.post(
            base_url + "oauth",
            headers={"Origin": "https://sim.example"},
            data={
                "client_id": "3c1f1e9e-6b1a-4d0e-9f2b-5a7c8d9e0f11",
                "grant_type": "password",
                "username": "demo",
                "password": "demo-password",
            },
        ).json()
        assert token["expires_in"] == 120
        version = httpx.get(
            base_url + "fullVersion",
            headers={
                "Authorization": f"Bearer {token['access_token']}",
                "Origin": "https://sim.example",
            },
        )
        assert version.json() == FULL_VERSION
        exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        assert exports == {
            "CLOUTILITY_CLIENT_ID": "3c1f1e9e-6b1a-4d0e-9f2b-5a7c8d9e0f11",
            "CLOUTILITY_ORIGIN": "https://sim.example",
            "CLOUTILITY_USERNAME": "demo",
            "CLOUTILITY_PASSWORD": "demo-password",
            "CLOUTILITY_BASE_URL": base_url,
        }
        stats_url = base_url.removesuffix("v1/") + "_simulator/stats"
        assert f"  stats:      {stats_url}" in lines
        stats = httpx.get(stats_url).json()
        assert stats["grants"]["password"] == 1
        assert stats["requests"]["GET /fullVersion"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()
    assert returncode == 0


async def test_export_lines_point_from_env_at_the_served_simulator(
    sim: Simulator, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sim.environment(base_url): the CLOUTILITY_* variables Cloutility.from_env() reads."""
    with sim.serve_in_thread() as base_url:
        for name, value in sim.environment(base_url).items():
            monkeypatch.setenv(name, value)
        async with Cloutility.from_env() as api:
            assert await api.full_version() == FULL_VERSION
    assert sim.stats.grants["password"] == 1


async def test_admin_stats_route(sim: Simulator, anyio_backend: str) -> None:
    """GET /_simulator/stats answers the counters without a token and uncounted; DELETE
    zeroes them; other methods and paths under /_simulator/ are refused."""
    sim.faults.inject("GET /me", 503)
    async with open_client(sim) as client:
        await client.get("fullVersion")
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test/") as bare:
        stats = (await bare.get("_simulator/stats")).json()
        assert stats["requests"] == {"GET /fullVersion": 1}
        assert stats["requests_total"] == 1
        assert stats["drift"] == {"enabled": False, "counts": {}}
        assert stats["faults_pending"] == [repr(sim.faults.pending[0])]
        assert (await bare.delete("_simulator/stats")).status_code == 204
        assert sim.stats.requests_total == 0
        refused = await bare.post("_simulator/stats")
        assert (refused.status_code, refused.headers["allow"]) == (405, "DELETE, GET")
        assert (await bare.get("_simulator/nothing")).status_code == 404
    assert sim.stats.requests_total == 0


def test_serve_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    """`serve --help` names the default of every option."""
    with pytest.raises(SystemExit):
        serve_main(["serve", "--help"])
    text = capsys.readouterr().out.split("options:", 1)[1]
    entries = [" ".join(e.split()) for e in re.split(r"\n  (?=-)", text) if e.strip()]
    options = [e for e in entries if e.startswith("--")]
    assert len(options) == 20
    for entry in options:
        assert "(default: " in entry, entry
    assert any(e.startswith("--port PORT") and "(default: 8080)" in e for e in options)
