"""The SDK-only scenarios: token churn, the streaming audit, and a model's memory."""

from __future__ import annotations

import gc
import itertools
import json
import math
import statistics
import time
from typing import Any

from _common import peak_rss_mb, percentile, rss_mb

from _workers._shared import (
    base_url,
    credentials,
    measure_end,
    measure_start,
    password_form,
    run_collected,
)
from _workers.sdk import absent, audit, client


def churn(
    pairs: list[tuple[int, int]],
    concurrency: int,
    duration: float,
    rate: float,
    refresh_margin: float,
) -> dict[str, Any]:
    """A paced SDK audit for ``duration`` seconds; records every request and every grant."""
    import anyio
    import httpx

    from cloutility_async._aiohttp_transport import AiohttpTransport

    grants: list[tuple[float, float]] = []

    class GrantRecorder(httpx.AsyncBaseTransport):
        """Delegates to the SDK's default transport; notes when each grant is on the wire."""

        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not request.url.path.endswith("/oauth"):
                return await self.inner.handle_async_request(request)
            started = time.perf_counter()
            try:
                return await self.inner.handle_async_request(request)
            finally:
                grants.append((started, time.perf_counter()))

        async def aclose(self) -> None:
            await self.inner.aclose()

    latencies: list[tuple[float, float]] = []
    failed: list[str] = []

    async def timed(call: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call
        finally:
            latencies.append((started, time.perf_counter()))

    async def main() -> dict[str, Any]:
        transport = GrantRecorder(AiohttpTransport(max_connections=concurrency))
        async with client(concurrency, transport=transport, refresh_margin=refresh_margin) as api:
            logged_in = time.perf_counter()
            total = int(duration * rate)

            async def paced() -> Any:
                t0 = time.perf_counter()
                for i in range(total):
                    delay = t0 + i / rate - time.perf_counter()
                    if delay > 0:
                        await anyio.sleep(delay)
                    yield pairs[i % len(pairs)]

            async def one(pair: tuple[int, int]) -> None:
                ref = api.bunit(pair[0]).consumer(pair[1])
                await timed(ref.get())
                await timed(absent(ref.node.get()))
                await timed(absent(ref.latest_report()))
                await timed(absent(ref.jobs()))

            started = time.perf_counter()
            async with api.map(one, paced(), concurrency=concurrency) as results:
                async for result in results:
                    if not result.ok:
                        failed.append(repr(result.error)[:200])
            ended = time.perf_counter()
            stats = api.statistics()
            token = api.token
            lifetime = token.expires_in if token is not None else math.nan

        def inside(span: tuple[float, float]) -> bool:
            return any(span[0] <= g_end and span[1] >= g_start for g_start, g_end in grants)

        inner = sorted((e - s) * 1000 for s, e in latencies if inside((s, e)))
        outer = sorted((e - s) * 1000 for s, e in latencies if not inside((s, e)))
        renew_every = lifetime - min(refresh_margin, lifetime / 2)
        grants_made = stats.password_grants + stats.refresh_grants
        # Each token is replaced exactly once: consecutive grants are about one renewal
        # interval apart (never closer: no duplicate grant; never further than a
        # lifetime: no token expired in use).
        starts = [g[0] for g in grants]
        intervals = [b - a for a, b in itertools.pairwise(starts)]
        grant_s = statistics.fmean(e - s for s, e in grants) if grants else 0.0
        expected = 1 + math.floor((ended - grants[0][1]) / (renew_every + grant_s))
        return {
            "duration_s": ended - started,
            "token_lifetime_s": lifetime,
            "refresh_margin_s": refresh_margin,
            "requests": len(latencies),
            "failed_audits": len(failed),
            "failures": failed[:5],
            "grants_made": grants_made,
            "password_grants": stats.password_grants,
            "refresh_grants": stats.refresh_grants,
            "grants_expected": expected,
            "grants_on_the_wire": len(grants),
            "renew_every_s": renew_every,
            "grant_interval_min_s": min(intervals, default=math.nan),
            "grant_interval_max_s": max(intervals, default=math.nan),
            "one_grant_per_token": bool(
                intervals
                and min(intervals) >= 0.9 * renew_every
                and max(intervals) <= lifetime
                and len(grants) == grants_made
            ),
            "token_lifetimes_in_run": (ended - logged_in) / lifetime,
            "token_waits": stats.token_waits,
            "replays_after_401": stats.replays_after_401,
            "retries": stats.retries,
            "grant_ms": [round((e - s) * 1000, 2) for s, e in grants],
            "inside_windows": _latency_summary(inner),
            "outside_windows": _latency_summary(outer),
        }

    return run_collected(lambda: anyio.run(main))


def _latency_summary(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": values[-1] if values else math.nan,
    }


def stream(concurrency: int, checkpoints: list[int], routes: int) -> dict[str, Any]:
    """Streaming audit: ``walk_consumers()`` into ``map``, nothing kept; the peak RSS
    growth over the RSS after import and login, at each checkpoint."""
    import anyio

    async def main() -> dict[str, Any]:
        async with client(concurrency) as api:
            await api.full_version()
            before = api.statistics().requests  # the run's requests only, not the warm-up's
            start = measure_start()
            marks: list[dict[str, Any]] = []
            done = errors = 0

            async def one(entry: Any) -> Any:
                if routes >= 4:
                    return await audit(entry.ref)
                consumer = await entry.ref.get()
                node = await absent(entry.ref.node.get())
                return consumer.name, node and node.locked

            async with api.map(one, api.walk_consumers()) as results:
                async for result in results:
                    done += 1
                    errors += not result.ok
                    if done in checkpoints:
                        marks.append(
                            {
                                "consumers": done,
                                "seconds": time.perf_counter() - start[2],
                                "peak_rss_growth_mb": peak_rss_mb() - start[0],
                                "rss_growth_mb": rss_mb() - start[0],
                            }
                        )
                        if done >= checkpoints[-1]:
                            break
            sent = api.statistics().requests - before
            return measure_end(
                start,
                sent,
                consumers=done,
                routes_per_consumer=routes,
                failed_audits=errors,
                checkpoints=marks,
            )

    return run_collected(lambda: anyio.run(main))


def model_memory(pairs: list[tuple[int, int]], concurrency: int) -> dict[str, Any]:
    """What keeping a structured ``Consumer`` costs over keeping its JSON dict.

    ``tracemalloc`` counts the bytes still allocated after ``gc.collect()`` as the
    Consumers of ``pairs`` fetched through the SDK pile up in a list, and as the same
    consumers' bodies (fetched raw) parsed by the SDK's own parser (orjson's ``loads``
    when it is installed, as the SDK then uses it: its dicts share their key strings,
    ``json.loads``' do not) pile up in another.
    Each is the slope from the first fifth to the whole, so that what the connection
    pool keeps (parsers, buffers: bounded, not per model) cancels out. Models keep the
    dict they were structured from; the difference is what a model adds on top of it.
    """
    import aiohttp
    import anyio

    creds, base = credentials(), base_url()
    first = max(1, len(pairs) // 5)

    async def main() -> dict[str, Any]:
        async with client(concurrency) as api:

            async def get(pair: tuple[int, int]) -> Any:
                return await api.bunit(pair[0]).consumer(pair[1]).get()

            async def fetch(part: list[tuple[int, int]]) -> list[Any]:
                async with api.map(get, part) as results:
                    return [result.unwrap() async for result in results]

            await fetch(pairs[:concurrency])  # lazy set-up, connections
            models: list[Any] = []
            model_bytes = await _slope(models, fetch, pairs, first)
            kind = type(models[0]).__name__

        async with aiohttp.ClientSession() as session:
            async with session.post(
                base + "oauth", data=password_form(creds), headers={"Origin": creds["origin"]}
            ) as response:
                token = (await response.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Origin": creds["origin"]}
            bodies = []
            for b, c in pairs:
                async with session.get(f"{base}bunits/{b}/consumers/{c}", headers=headers) as r:
                    bodies.append(await r.read())

        loads = _sdk_parser()

        async def parse(part: list[bytes]) -> list[Any]:
            return [loads(body) for body in part]

        dicts: list[Any] = []
        dict_bytes = await _slope(dicts, parse, bodies, first)
        assert len(models) == len(dicts) == len(pairs)
        return {
            "model": kind,
            "count": len(pairs),
            "model_bytes_each": model_bytes,
            "dict_bytes_each": dict_bytes,
            "over_dict_bytes_each": model_bytes - dict_bytes,
            "body_bytes_each": sum(map(len, bodies)) / len(bodies),
            "parser": getattr(loads, "__module__", None) or "json",
        }

    return run_collected(lambda: anyio.run(main))


def _sdk_parser() -> Any:
    """The parser the SDK decodes bodies with: orjson's when importable, else json's."""
    try:
        from orjson import loads
    except ImportError:
        return json.loads
    return loads


async def _slope(kept: list[Any], make: Any, items: list[Any], first: int) -> float:
    """Bytes per item kept: ``make(items[:first])``, then the rest, all kept in ``kept``;
    the traced growth over the rest divided by its length."""
    import tracemalloc

    tracemalloc.start()
    try:
        kept.extend(await make(items[:first]))
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        kept.extend(await make(items[first:]))
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / (len(items) - first)
    finally:
        tracemalloc.stop()
