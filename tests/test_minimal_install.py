"""The SDK works with none of its optional extras installed (nox's `tests_minimal` too)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# What the extras bring (cli, sim, redis, otel, docs, speed): the core must not need any.
OPTIONAL = ["rich", "uvicorn", "starlette", "redis", "opentelemetry", "orjson", "mkdocs"]

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"blocked optional dependency {name}", name=name)
            return None

    sys.meta_path.insert(0, Refuse())

    import anyio, httpx
    import cloutility_async
    import cloutility_async.testing
    import cloutility_async.webhooks

    def portal(request):
        if request.url.path.endswith("/oauth"):
            return httpx.Response(200, json={"access_token": "a", "expires_in": 299})
        return httpx.Response(200, json="1.0.4480.0")

    async def main():
        async with cloutility_async.Cloutility(
            client_id="c", origin="https://app.example", username="u", password="p",
            base_url="http://127.0.0.1:9/v1/", transport=httpx.MockTransport(portal),
        ) as api:
            print(await api.full_version())

    for backend in ("asyncio", "trio"):
        anyio.run(main, backend=backend)
    """
)


def test_the_sdk_imports_and_runs_with_no_optional_extra() -> None:
    """Importing the SDK, its simulator and webhooks, and one session need no extra."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(OPTIONAL)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.0.4480.0", "1.0.4480.0"]
