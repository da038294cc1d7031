"""The SDK: ``api.map(work, consumers)`` with typed models and the client's own limit.

``work`` awaits ``ref.get()`` (the ``get`` workload) or also ``ref.node.get()``,
``ref.latest_report()`` and ``ref.jobs()`` (``audit``) of ``api.bunit(b).consumer(c)``.
Only the public API is used, so that ``ir.py --compare`` can run this worker against
the SDK of another revision.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from typing import Any

from _workers._shared import WORKLOADS, measure_end, measure_start, run_collected


def client(concurrency: int, *, transport: Any = None, **options: Any) -> Any:
    from cloutility_async import Cloutility

    return Cloutility.from_env(max_concurrency=concurrency, transport=transport, **options)


async def absent(call: Awaitable[Any]) -> Any:
    """The call's result, or None for a 404 (a consumer without a node or a report)."""
    from cloutility_async import NotFoundError

    try:
        return await call
    except NotFoundError:
        return None


async def audit(ref: Any) -> tuple[Any, ...]:
    consumer = await ref.get()
    node = await absent(ref.node.get())
    report = await absent(ref.latest_report())
    jobs = await absent(ref.jobs())
    return (
        consumer.name,
        node and node.locked,
        report and report.status,
        jobs and len(jobs),
    )


async def consumer(ref: Any) -> tuple[Any, ...]:
    return ((await ref.get()).name,)


def otel_hooks() -> list[Any]:
    """``OpenTelemetryHooks`` on the OpenTelemetry SDK, as an application sets it up, minus
    the export: spans go through a ``SimpleSpanProcessor`` (in the loop's thread, so
    callgrind counts them) to an exporter that drops them; metrics are aggregated as they
    are recorded and kept for an ``InMemoryMetricReader`` that is never read."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from cloutility_async.otel import OpenTelemetryHooks

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Dropped()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return [OpenTelemetryHooks(tracer_provider=tracer_provider, meter_provider=meter_provider)]


def httpx_transport(concurrency: int) -> Any:
    """httpx's own pool, sized to the concurrency (what the SDK uses on trio)."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncHTTPTransport(limits=limits, retries=0)


GRANTS = ("password_grants", "refresh_grants")


def statistics(api: Any) -> dict[str, int]:
    """The client's counters that tell whether a run was clean (retries, grants...)."""
    stats = api.statistics()
    names = ("requests", "retries", "replays_after_401", "peak_in_flight", "token_waits",
             "password_grants", "refresh_grants")  # fmt: skip
    return {name: getattr(stats, name) for name in names if hasattr(stats, name)}


def run(
    pairs: list[tuple[int, int]],
    concurrency: int,
    *,
    workload: str = "audit",
    warmup: int | None = None,
    backend: str = "asyncio",
    transport: str = "default",
    otel: bool = False,
) -> dict[str, Any]:
    import anyio

    import cloutility_async

    one = consumer if workload == "get" else audit
    warm = pairs[: concurrency if warmup is None else warmup]

    async def main() -> dict[str, Any]:
        chosen = httpx_transport(concurrency) if transport == "httpx" else None
        hooks = {"hooks": otel_hooks()} if otel else {}
        async with client(concurrency, transport=chosen, **hooks) as api:

            async def work(pair: tuple[int, int]) -> tuple[Any, ...]:
                return await one(api.bunit(pair[0]).consumer(pair[1]))

            async with api.map(work, warm) as results:
                async for _ in results:
                    pass
            before = statistics(api)
            start = measure_start()
            errors = 0
            async with api.map(work, pairs) as results:
                async for result in results:
                    errors += not result.ok
            after = statistics(api)
            return measure_end(
                start,
                len(WORKLOADS[workload]) * len(pairs),
                failed_audits=errors,
                sent=after["requests"] - before["requests"],
                retries=after.get("retries", 0) - before.get("retries", 0),
                grants=sum(after.get(k, 0) - before.get(k, 0) for k in GRANTS),
                peak_in_flight=after.get("peak_in_flight"),
            )

    result = run_collected(lambda: anyio.run(main, backend=backend))
    result["sdk"] = {
        "version": cloutility_async.__version__,
        "path": str(cloutility_async.__file__),
        "json_modules": sorted(m for m in ("orjson", "ujson", "msgspec") if m in sys.modules),
    }
    return result
