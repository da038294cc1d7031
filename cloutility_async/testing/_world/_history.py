"""Seeded history of a consumer: its jobs, daily reports and audit log.

Pure functions of the consumer, its own RNG and the world's ``now``, so the same seed
always gives the same history whatever order things are read in.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from .._formats import UTC, fmt_ms, fmt_s, fmt_ticks, fmt_timespan
from ._catalog import (
    BACKUP_SERVER,
    CATALOG_DATE,
    DATA_SOURCE_TYPE,
    DEMO_USER_ID,
    NODE_WARNING_TYPES,
    SERVER_TYPE,
    STATE_ACTIVE,
)
from ._entities import AuditEntry, Consumer, Job, Report

__all__ = ["audit", "audit_entry", "jobs", "reports", "seven_digits"]

JSON = dict[str, Any]


def seven_digits(rng: random.Random, when: datetime) -> str:
    """A seven-digit-fraction local timestamp with generated sub-second digits."""
    return fmt_ticks(when.replace(microsecond=rng.randrange(1_000_000)), rng.randrange(10))


def _job(
    c: Consumer,
    rng: random.Random,
    jid: int,
    completed: datetime,
    *,
    job_type: tuple[int, str],
    job_name: str,
    first: bool,
) -> Job:
    roll = rng.random()
    if first:
        status, result, severity = (1, "Completed"), 0, 0
    elif roll < 0.08:
        status, result, severity = (3, "Failed"), 12, 2
    elif roll < 0.11:
        status, result, severity = (4, "Missed"), -1, 2
    elif roll < 0.2:
        status, result, severity = (2, "Completed with warnings"), 4, 1
    else:
        status, result, severity = (1, "Completed"), 0, 0
    missed = status[1] == "Missed"
    seconds = 0 if missed else rng.randrange(40, 5400)
    if first:
        seconds = rng.randrange(90_000, 200_000)  # initial full backup: over a day
    megabytes = 0.0 if missed else round(rng.uniform(10, 60_000 if first else 8_000), 2)
    started = completed - timedelta(seconds=seconds)
    scheduled = started.replace(minute=0, second=0, microsecond=0)
    raw: JSON = {
        "consumerId": c.id,
        "dataSourceId": 100_000 + c.id,
        "serverId": BACKUP_SERVER[0],
        "tags": [],
        "type": {"id": job_type[0], "name": job_type[1]},
        "status": {"id": status[0], "name": status[1]},
        "severity": severity,
        "dataSourceType": dict(DATA_SOURCE_TYPE),
        "dataSourceState": dict(STATE_ACTIVE),
        "scheduled": job_type[1] == "Backup",
        "scheduledStart": fmt_s(scheduled),
    }
    if not missed:
        raw["actualStart"] = seven_digits(rng, started)
    raw["completed"] = fmt_ms(completed)
    files = 0 if missed else rng.randrange(100, 500_000)
    raw["examinedFiles"] = files
    raw["affectedFiles"] = 0 if missed else rng.randrange(0, max(1, files // 10))
    raw["failedFiles"] = rng.randrange(1, 40) if result in (4, 12) else 0
    raw["result"] = result
    raw["transferredMegaBytes"] = megabytes
    raw["transferredGigaBytes"] = round(megabytes / 1024, 3)
    raw["serverType"] = dict(SERVER_TYPE)
    raw["jobName"] = {"name": job_name, "id": 1 if first else 2, "createdDate": CATALOG_DATE}
    raw["name"] = job_name
    raw["duration"] = fmt_timespan(seconds)
    raw["transferredMegaBytesPerSecond"] = round(megabytes / seconds, 3) if seconds else 0.0
    raw["id"] = jid
    raw["createdDate"] = fmt_ms(completed + timedelta(seconds=rng.randrange(5, 300)))
    return Job(jid, completed, raw)


def jobs(c: Consumer, rng: random.Random, activated_at: datetime, now: datetime) -> list[Job]:
    """Jobs, oldest first: the initial full backup, 15 daily ones, maybe a restore."""
    first_done = (
        activated_at + timedelta(hours=rng.randrange(2, 10), seconds=rng.randrange(3600))
    ).replace(microsecond=rng.randrange(1000) * 1000)
    jobs = [
        _job(
            c,
            rng,
            c.id * 1000,
            first_done,
            job_type=(1, "Backup"),
            job_name="INITIAL_FULL",
            first=True,
        )
    ]
    base = now
    for k in range(14, -1, -1):
        completed = base - timedelta(
            days=k,
            hours=rng.randrange(1, 20),
            seconds=rng.randrange(3600),
            milliseconds=rng.randrange(1000),
        )
        jobs.append(
            _job(
                c,
                rng,
                c.id * 1000 + 15 - k,
                completed,
                job_type=(1, "Backup"),
                job_name="DAILY_INCR",
                first=False,
            )
        )
    if rng.random() < 0.3:
        completed = base - timedelta(days=rng.randrange(1, 10), hours=3)
        jobs.append(
            _job(
                c,
                rng,
                c.id * 1000 + 50,
                completed,
                job_type=(2, "Restore"),
                job_name="RESTORE",
                first=False,
            )
        )
    jobs.sort(key=lambda j: j.completed)
    return jobs


def reports(c: Consumer, rng: random.Random, now: datetime) -> list[Report]:
    """Thirty daily node reports, oldest first."""
    assert c.node is not None
    today = datetime.combine(now.date(), datetime.min.time(), UTC)
    size = rng.uniform(2_000, 900_000)
    growth = rng.uniform(0.0, 0.01)
    reports = []
    for k in range(29, -1, -1):
        rid = c.id * 100 + (29 - k)
        day = today - timedelta(days=k)
        mb = round(size * (1 + growth * (29 - k)), 1)
        prev = round(size * (1 + growth * (28 - k)), 1)
        archive = round(mb * 0.05, 1)
        raw: JSON = {
            "name": c.name,
            "statusReportId": rid // 100,
            "pending": False,
            "dataSourceType": dict(DATA_SOURCE_TYPE),
            "nodeReportTypeId": 1,
            "dataSource": c.node.get("tsmName", ""),
            "dataSourceState": dict(STATE_ACTIVE),
            "deviceName": c.name.lower(),
            "tsmName": c.node.get("tsmName", ""),
            "tsmServerName": BACKUP_SERVER[1],
            "proxyNodeReports": [],
            "errorsDeactivated": False,
            "errorsDeactivatedNoActivity": False,
            # A few reports carry megaBytes as a numeric string, as seen live.
            "megaBytes": str(mb) if rid % 7 == 3 else mb,
            "backupMegaBytes": round(mb - archive, 1),
            "archiveMegaBytes": archive,
            "megaBytesDelta": round(mb - prev, 1),
            "megaBytesDeltaPercentage": round((mb - prev) / prev * 100, 3) if prev else 0.0,
            "backupMegaBytesDeltaPercentage": round(growth * 100, 3),
            "archiveMegaBytesDeltaPercentage": 0.0,
            "backupMegaBytesDelta": round((mb - prev) * 0.95, 1),
            "archiveMegaBytesDelta": round((mb - prev) * 0.05, 1),
            "megaBytesForCurrentBusinessUnit": mb,
            "backupMegaBytesForCurrentBusinessUnit": round(mb - archive, 1),
            "archiveMegaBytesForCurrentBusinessUnit": archive,
            "comments": [],
            "transferredMegaBytes": round(rng.uniform(0, 5_000), 1),
            "transferredBackupMegaBytes": round(rng.uniform(0, 5_000), 1),
            "transferredRestoreMegaBytes": round(rng.uniform(0, 100), 1) if k % 9 == 0 else 0.0,
            "percentOfTotalStorageOfBusinessUnit": round(rng.uniform(0.1, 40.0), 2),
            "consumerId": c.id,
            "nodeId": c.node["id"],
            "reportDate": fmt_s(day),
            "id": rid,
            "createdDate": seven_digits(rng, day + timedelta(hours=2, minutes=rng.randrange(60))),
        }
        roll = rng.random()
        status = 0 if roll < 0.8 else 1 if roll < 0.92 else 2
        warnings = _warnings(rng, rid, status, raw["createdDate"]) if status else []
        reports.append(Report(rid, day, raw, status, warnings))
    return reports


def audit(
    c: Consumer, rng: random.Random, created: datetime, now: datetime, username: str
) -> list[AuditEntry]:
    """The generated audit log, oldest first."""
    count = rng.randrange(120, 161) if c.heavy_audit else rng.randrange(5, 31)
    start = created.timestamp()
    span = max(1.0, now.timestamp() - 3600 - start)
    stamps = sorted(start + rng.random() * span for _ in range(count - 1))
    entries = [
        audit_entry(
            username,
            c.id * 1000,
            created,
            100,
            f"Consumption unit '{c.name}' was created.",
            False,
            generated=True,
        )
    ]
    for k, ts in enumerate(stamps, start=1):
        when = datetime.fromtimestamp(ts, UTC).replace(microsecond=rng.randrange(1000) * 1000)
        roll = rng.random()
        if roll < 0.4:
            typ, msg = (
                0,
                rng.choice(
                    ("Status report generated.", "Node synchronized.", "Schedule executed.")
                ),
            )
        elif roll < 0.8:
            typ, msg = (
                200,
                rng.choice(
                    (
                        "Note was changed.",
                        "Tags were changed.",
                        "Storage limit was changed.",
                        "Client option set was changed.",
                    )
                ),
            )
        elif roll < 0.85:
            typ, msg = 300, "Filespace was deleted."
        elif roll < 0.9:
            typ, msg = 100, "Filespace was created."
        else:
            typ, msg = (
                400,
                rng.choice(
                    (
                        "ANS1228E Sending of object failed.",
                        "ANS1017E Session rejected: TCP/IP connection failure.",
                    )
                ),
            )
        descendant = "ilespace" in msg or "ynchronized" in msg or "ANS" in msg
        entry = audit_entry(username, c.id * 1000 + k, when, typ, msg, descendant, generated=True)
        entries.append(entry)
    return entries


def audit_entry(
    username: str,
    eid: int,
    when: datetime,
    typ: int,
    message: str,
    descendant: bool,
    *,
    generated: bool = False,
) -> AuditEntry:
    """One audit log line, by ``username``; a generated info or error line is the system's."""
    system = generated and typ in (0, 400)
    user_name = "system" if system else username
    user_id = 1 if system else DEMO_USER_ID
    return AuditEntry(eid, when, typ, message, user_name, user_id, descendant, fmt_ms(when))


def _warnings(rng: random.Random, rid: int, status: int, created: str) -> list[JSON]:
    """The warning of a report whose status is 1 (warning) or 2 (error)."""
    wtype = 1 if status == 2 else rng.choice((2, 3, 5))
    wid, wname, uses_limit = NODE_WARNING_TYPES[wtype - 1]
    warning_type: JSON = {"usesLimit": uses_limit, "id": wid, "createdDate": CATALOG_DATE}
    if wname is not None:
        warning_type = {"name": wname, **warning_type}
    warning = {
        "type": warning_type,
        "status": status,
        "days": rng.randrange(1, 8),
        "limit": float(rng.choice((3, 7, 100))) if uses_limit else 0.0,
        "nodeReportId": rid,
        "id": rid * 10,
        "createdDate": created,
    }
    return [warning]
