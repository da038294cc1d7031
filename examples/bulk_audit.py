"""Failed backup jobs of the last 24 hours, for every consumer of the tree."""

import datetime as dt
import sys

import anyio

from cloutility_async import Cloutility, ConsumerEntry, NotFoundError


async def check(entry: ConsumerEntry, since: dt.datetime) -> tuple[str, int]:
    """The node's name and the number of failed jobs since ``since``."""
    try:
        node = await entry.ref.node.get()
    except NotFoundError:
        return "(no node)", 0
    jobs = await entry.ref.jobs(start=since)
    failed = sum(1 for job in jobs if job.status is not None and job.status.name == "Failed")
    return node.tsm_name or "(not activated)", failed


async def main() -> int:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=24)
    errors = 0
    async with Cloutility.from_env(max_concurrency=32) as api:

        async def check_entry(entry: ConsumerEntry) -> tuple[str, int]:
            return await check(entry, since)

        async with api.map(check_entry, api.walk_consumers(), concurrency=32) as results:
            async for result in results:
                entry = result.item
                if result.error is not None:
                    errors += 1
                    print(f"{entry.bunit.name}\t{entry.consumer.name}\tERROR {result.error}")
                    continue
                node, failed = result.unwrap()
                print(f"{entry.bunit.name}\t{entry.consumer.name}\t{node}\t{failed} failed")
        print(f"{api.statistics().requests} requests", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    backend = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    sys.exit(anyio.run(main, backend=backend))
