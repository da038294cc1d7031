"""Raw aiohttp: the fast baseline.

``asyncio.gather`` over the consumers, an ``asyncio.Semaphore`` around each request,
the status checked and the body parsed (``json.loads``, or ``orjson.loads``: the same
parser the SDK is compared with), and the fields an audit reads taken from each object.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
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


def _parser(name: str) -> Callable[[bytes], Any]:
    if name == "orjson":
        import orjson

        return orjson.loads  # type: ignore[no-any-return]
    return json.loads


def run(
    pairs: list[tuple[int, int]],
    concurrency: int,
    *,
    workload: str = "audit",
    warmup: int | None = None,
    parser: str = "json",
) -> dict[str, Any]:
    import aiohttp

    loads = _parser(parser)
    creds, base = credentials(), base_url()
    warm = pairs[: concurrency if warmup is None else warmup]

    async def main() -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(
                base + "oauth", data=password_form(creds), headers={"Origin": creds["origin"]}
            ) as response:
                token = (await response.json())["access_token"]
            headers = api_headers(token, creds)
            sem = asyncio.Semaphore(concurrency)

            async def get(url: str) -> Any:
                async with sem, session.get(url, headers=headers) as response:
                    body = await response.read()
                    if response.status == 404:
                        return None  # a consumer without a node or a report
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status} for {url}")
                    return loads(body)

            work = raw_work(get, base, workload)
            return await gather_timed(work, pairs, warm, workload, parser=parser)

    return run_collected(lambda: asyncio.run(main()))
