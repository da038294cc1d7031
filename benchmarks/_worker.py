"""One client in its own process: ``python benchmarks/_worker.py CLIENT [options]``.

The orchestrators (``bulk_audit.py``, ``ir.py``) start it, natively or under callgrind,
with the simulator's URL and credentials in the environment; its last stdout line is
its result as JSON. ``--without MODULE`` makes ``import MODULE`` fail in this process
(``orjson``, say, to measure the SDK without it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

CLIENTS = ("sdk", "aiohttp", "httpx", "requests", "churn", "stream", "models")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("--workload", choices=("get", "audit"), default="audit")
    parser.add_argument("--pairs", help="JSON file of [bunit, consumer] pairs")
    parser.add_argument("--limit", type=int, help="use the first N pairs")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=int, help="consumers audited untimed first (concurrency)")
    parser.add_argument("--parser", choices=("json", "orjson"), default="json", help="raw aiohttp")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio", help="SDK")
    parser.add_argument("--transport", choices=("default", "httpx"), default="default", help="SDK")
    parser.add_argument("--otel", action="store_true", help="SDK: with OpenTelemetryHooks")
    parser.add_argument("--without", action="append", default=[], metavar="MODULE")
    parser.add_argument("--duration", type=float, help="churn: seconds")
    parser.add_argument("--rate", type=float, help="churn: audits per second")
    parser.add_argument("--refresh-margin", type=float, help="churn: the SDK's refresh_margin")
    parser.add_argument("--checkpoints", help="stream: consumer counts, comma-separated")
    parser.add_argument("--memory-routes", type=int, default=2, help="stream: 2 or 4")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    for name in args.without:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` now fails
    from _workers._shared import load_pairs

    pairs = load_pairs(args.pairs, args.limit) if args.pairs else []
    common = {"workload": args.workload, "warmup": args.warmup}
    if args.client == "sdk":
        from _workers import sdk

        return sdk.run(
            pairs,
            args.concurrency,
            backend=args.backend,
            transport=args.transport,
            otel=args.otel,
            **common,
        )
    if args.client == "aiohttp":
        from _workers import raw_aiohttp

        return raw_aiohttp.run(pairs, args.concurrency, parser=args.parser, **common)
    if args.client == "httpx":
        from _workers import raw_httpx

        return raw_httpx.run(pairs, args.concurrency, **common)
    if args.client == "requests":
        from _workers import sequential

        return sequential.run(pairs, args.concurrency, **common)
    from _workers import sdk_runs

    if args.client == "churn":
        return sdk_runs.churn(
            pairs, args.concurrency, args.duration, args.rate, args.refresh_margin
        )
    if args.client == "stream":
        checkpoints = [int(x) for x in args.checkpoints.split(",")]
        return sdk_runs.stream(args.concurrency, checkpoints, args.memory_routes)
    return sdk_runs.model_memory(pairs, args.concurrency)


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(run(parse(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
