"""Raw httpx: the raw aiohttp script on ``httpx.AsyncClient`` and its default transport.

The pool is sized to the concurrency (httpx's default 20 keep-alive connections would
make it reconnect all the time at 64 in flight).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from _workers._shared import (
    api_headers,
    base_url,
    credentials,
    gather_timed,
    password_form,
    raw_work,
    run_collected,
)


def run(
    pairs: list[tuple[int, int]],
    concurrency: int,
    *,
    workload: str = "audit",
    warmup: int | None = None,
) -> dict[str, Any]:
    import httpx

    creds, base = credentials(), base_url()
    warm = pairs[: concurrency if warmup is None else warmup]

    async def main() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            response = await client.post(
                base + "oauth", data=password_form(creds), headers={"Origin": creds["origin"]}
            )
            token = response.json()["access_token"]
            headers = api_headers(token, creds)
            sem = asyncio.Semaphore(concurrency)

            async def get(url: str) -> Any:
                async with sem:
                    response = await client.get(url, headers=headers)
                if response.status_code == 404:
                    return None  # a consumer without a node or a report
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code} for {url}")
                return json.loads(response.content)

            work = raw_work(get, base, workload)
            return await gather_timed(work, pairs, warm, workload)

    return run_collected(lambda: asyncio.run(main()))
