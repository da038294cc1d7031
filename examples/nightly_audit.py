"""Nightly backup audit for cron: a CSV of every consumer, exit 1 if anything needs a look.

Plain synchronous code: ``cloutility_async.sync`` runs the async SDK in a thread.

    # m h dom mon dow  command
    15 6 * * *  . /etc/cloutility.env && /opt/audit/.venv/bin/python nightly_audit.py /var/reports
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

from cloutility_async import NotFoundError
from cloutility_async.sync import Cloutility, ConsumerEntry

FIELDS = ["business_unit", "consumer", "node", "jobs", "failed", "problem"]
FAILED = {"Failed", "Missed", "Severed"}  # the job statuses that ended badly


def check(entry: ConsumerEntry, since: dt.datetime) -> dict[str, object]:
    """One consumer's row: its node and the failed jobs since ``since``."""
    row: dict[str, object] = {"business_unit": entry.bunit.name, "consumer": entry.name}
    try:
        node = entry.ref.node.get()
    except NotFoundError:
        return {**row, "problem": "no node"}
    jobs = entry.ref.jobs(start=since)
    failed = sum(1 for job in jobs if job.status is not None and job.status.name in FAILED)
    problem = f"{failed} failed jobs" if failed else ("no backup" if not jobs else "")
    return {**row, "node": node.tsm_name, "jobs": len(jobs), "failed": failed, "problem": problem}


def audit(api: Cloutility, out: Path, since: dt.datetime) -> int:
    """Write the report to ``out``; the number of rows with a problem or an error."""
    problems = 0
    with out.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, FIELDS)
        writer.writeheader()
        # map() runs check() in worker threads, 16 consumers at a time; results come
        # as they complete, and one consumer's error never stops the others.
        with api.map(lambda entry: check(entry, since), api.walk_consumers()) as results:
            for result in results:
                if result.ok:
                    row = result.value
                else:
                    entry = result.item
                    row = {"business_unit": entry.bunit.name, "consumer": entry.name}
                    row["problem"] = f"error: {result.error}"
                problems += bool(row.get("problem"))
                writer.writerow(row)
    return problems


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path()
    now = dt.datetime.now(dt.timezone.utc)
    out = folder / f"backup-audit-{now:%Y-%m-%d}.csv"
    with Cloutility.from_env(max_concurrency=16) as api:
        problems = audit(api, out, since=now - dt.timedelta(hours=24))
        requests = api.statistics().requests
    print(f"{out}: {problems} consumers need a look ({requests} requests)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
