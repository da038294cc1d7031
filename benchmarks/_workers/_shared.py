"""What every client worker shares: the workload, credentials, timing and the loop entry.

Nothing here imports ``cloutility_async`` (see the package docstring).
"""

from __future__ import annotations

import contextvars
import gc
import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from _common import ENV_KEYS, peak_rss_mb, reset_peak_rss, rss_mb

T = TypeVar("T")

#: The routes a workload GETs under ``bunits/{b}/consumers/{c}``, in order. ``get`` is
#: one typed consumer GET; ``audit`` the four-route bulk audit (a 404 for a consumer
#: without a node or a report counts as an answer).
WORKLOADS: dict[str, tuple[str, ...]] = {
    "get": ("",),
    "audit": ("", "/node", "/reports/latest", "/jobs"),
}


def credentials() -> dict[str, str]:
    """The simulator's credentials, from the environment (never from argv or a file)."""
    return {key: os.environ[var] for key, var in ENV_KEYS.items()}


def base_url() -> str:
    return os.environ["CLOUTILITY_BASE_URL"]


def password_form(creds: dict[str, str]) -> dict[str, str]:
    """The OAuth password-grant form the raw clients post."""
    return {
        "client_id": creds["client_id"],
        "grant_type": "password",
        "username": creds["username"],
        "password": creds["password"],
    }


def api_headers(token: str, creds: dict[str, str]) -> dict[str, str]:
    """The headers the raw clients send with every API request."""
    return {
        "Authorization": f"Bearer {token}",
        "Origin": creds["origin"],
        "Accept": "application/json",
    }


def load_pairs(path: str, limit: int | None = None) -> list[tuple[int, int]]:
    pairs = [(int(b), int(c)) for b, c in json.loads(Path(path).read_text())]
    return pairs[:limit] if limit else pairs


def run_collected(run: Callable[[], T]) -> T:
    """Run an event loop (``run``) inside one ``contextvars.Context.run`` call.

    The instruction-count mode runs workers under ``valgrind --tool=callgrind
    --toggle-collect=context_run``: CPython 3.11 runs asyncio's and trio's loops as
    Python code, with no C function of their own, and both run every callback or task
    step through ``Context.run`` (C: ``context_run``). Entering the loop through one
    outer ``Context.run`` makes the whole loop (its scheduler included) the collected
    region, while interpreter start, imports and exit stay out; the nested calls of
    the loop's own ``Context.run`` do not toggle collection off (callgrind counts a
    recursive entry once). Outside valgrind this costs one C call.
    """
    return contextvars.copy_context().run(run)


Start = tuple[float, float, float, os.times_result]


def measure_start() -> Start:
    gc.collect()
    base = rss_mb()
    reset_peak_rss()
    return base, time.process_time(), time.perf_counter(), os.times()


def measure_end(start: Start, requests: int, **extra: Any) -> dict[str, Any]:
    wall = time.perf_counter() - start[2]
    cpu = time.process_time() - start[1]
    times = os.times()
    peak = peak_rss_mb()
    return {
        "requests": requests,
        "wall_s": wall,
        "cpu_s": cpu,
        "user_s": times.user - start[3].user,
        "system_s": times.system - start[3].system,
        "cpu_ms_per_request": cpu / requests * 1000 if requests else math.nan,
        "wall_ms_per_request": wall / requests * 1000 if requests else math.nan,
        "requests_per_s": requests / wall if wall else math.nan,
        "peak_rss_mb": peak,
        "baseline_rss_mb": start[0],
        "rss_growth_mb": peak - start[0],
        **extra,
    }


# -- the raw clients' typed work --------------------------------------------------------------

Get = Callable[[str], Awaitable[Any]]
Work = Callable[[int, int], Awaitable[tuple[Any, ...]]]


def raw_work(get: Get, base: str, workload: str) -> Work:
    """A raw client's work for one consumer, given its ``get(url)`` (status checked, body
    parsed, ``None`` for a 404): the fields an audit reads, taken from each object."""

    async def consumer(b: int, c: int) -> tuple[Any, ...]:
        return ((await get(f"{base}bunits/{b}/consumers/{c}"))["name"],)

    async def audit(b: int, c: int) -> tuple[Any, ...]:
        url = f"{base}bunits/{b}/consumers/{c}"
        item = await get(url)
        node = await get(url + "/node")
        report = await get(url + "/reports/latest")
        jobs = await get(url + "/jobs")
        return (
            item["name"],
            node and node.get("locked"),
            report and report.get("status"),
            jobs and len(jobs),
        )

    return consumer if workload == "get" else audit


async def gather_timed(
    work: Work,
    pairs: list[tuple[int, int]],
    warm: list[tuple[int, int]],
    workload: str,
    **extra: Any,
) -> dict[str, Any]:
    """``asyncio.gather`` over ``warm`` (untimed), then over ``pairs``, timed."""
    import asyncio

    await asyncio.gather(*(work(b, c) for b, c in warm))
    start = measure_start()
    results = await asyncio.gather(*(work(b, c) for b, c in pairs), return_exceptions=True)
    errors = sum(isinstance(r, BaseException) for r in results)
    requests = len(WORKLOADS[workload]) * len(pairs)
    return measure_end(start, requests, failed_audits=errors, **extra)
