"""The audit's rule for one consumer, as a pure function: no portal, no event loop."""

from __future__ import annotations

import datetime as dt

import pytest

from cloutility_async import (
    Consumer,
    Job,
    Lookup,
    Node,
    NodeReport,
    NodeReportWarning,
    SimpleBusinessUnit,
)
from cloutility_async.cli._audit import audit_row

UTC = dt.timezone.utc
UNIT = SimpleBusinessUnit(id=22, name="Company AB")
CONSUMER = Consumer(id=408, name="JennysWS")


def job(status: str, kind: str = "Incremental", hour: int = 1) -> Job:
    return Job(
        status=Lookup(id=1, name=status),
        type=Lookup(id=2, name=kind),
        completed=dt.datetime(2024, 5, 20, hour, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("status", "failed"),
    [
        ("Failed", True),
        ("Missed", True),
        ("Severed", True),
        ("failed with errors", True),
        ("Completed", False),
        ("Completed with warnings", False),
        ("In progress", False),
    ],
)
def test_failed_jobs_are_failed_missed_or_severed(status: str, failed: bool) -> None:
    """jobs_failed counts Failed, Missed and Severed (any case), nothing else."""
    row = audit_row(UNIT, CONSUMER, jobs=[job(status)])
    assert (row.jobs_total, row.jobs_failed) == (1, int(failed))


@pytest.mark.parametrize("kind", ["Restore", "Retrieve", "restore"])
def test_restores_and_retrieves_are_no_backup(kind: str) -> None:
    """A good Restore or Retrieve is no last backup; the backup before it is."""
    row = audit_row(UNIT, CONSUMER, jobs=[job("Completed", hour=1), job("Completed", kind, 5)])
    assert row.last_backup == dt.datetime(2024, 5, 20, 1, tzinfo=UTC)


def test_the_last_backup_is_the_newest_that_ended_well() -> None:
    """Completed and Completed with warnings count; a newer failed backup does not."""
    jobs = [job("Completed", hour=1), job("Completed with warnings", hour=3), job("Failed", hour=9)]
    row = audit_row(UNIT, CONSUMER, jobs=jobs)
    assert row.last_backup == dt.datetime(2024, 5, 20, 3, tzinfo=UTC)
    assert (row.jobs_total, row.jobs_failed) == (3, 1)


def test_no_good_backup_means_no_last_backup() -> None:
    """Only failures in the window: last_backup is None, as an audit asks."""
    assert audit_row(UNIT, CONSUMER, jobs=[job("Missed")]).last_backup is None


def test_a_node_is_activated_once_it_has_a_date_and_is_not_decommissioned() -> None:
    """node_activated needs an activation date and no decommissioning."""
    when = dt.datetime(2024, 1, 1, tzinfo=UTC)
    active = audit_row(UNIT, CONSUMER, node=Node(tsm_name="JW", activated_date=when))
    gone = audit_row(UNIT, CONSUMER, node=Node(activated_date=when, decommissioned=True))
    fresh = audit_row(UNIT, CONSUMER, node=Node(tsm_name=None))
    none = audit_row(UNIT, CONSUMER)
    assert (active.has_node, active.node_activated, active.node_name) == (True, True, "JW")
    assert (gone.has_node, gone.node_activated) == (True, False)
    assert (fresh.has_node, fresh.node_activated) == (True, False)
    assert (none.has_node, none.node_activated, none.node_locked) == (False, False, None)


def test_the_report_gives_storage_date_and_named_warnings() -> None:
    """storage_mb, report_date and the warnings (count and type names) come from the report."""
    report = NodeReport(
        mega_bytes=1024.5,
        report_date=dt.datetime(2024, 5, 20, tzinfo=UTC),
        warnings=(
            NodeReportWarning(type=Lookup(id=2, name="High storage")),
            NodeReportWarning(type=None),
        ),
    )
    row = audit_row(UNIT, CONSUMER, report=report)
    assert (row.storage_mb, row.warnings, row.warning_names) == (1024.5, 2, ("High storage",))
    assert row.report_date == dt.datetime(2024, 5, 20, tzinfo=UTC)
    assert audit_row(UNIT, CONSUMER).warnings is None


def test_a_unit_that_failed_is_a_row_without_a_consumer() -> None:
    """A unit whose list failed is a row with its ids, no consumer, and the error."""
    row = audit_row(UNIT, None, error="consumers: HTTP 503: down")
    assert (row.bunit_id, row.bunit_name, row.consumer_id, row.consumer_name) == (
        22,
        "Company AB",
        None,
        None,
    )
    assert row.error == "consumers: HTTP 503: down"
    assert row.jobs_total == 0
