"""The audit: for every consumer of a tree, its node, latest report and recent jobs.

This module knows nothing about output: :class:`Audit` yields one
:class:`AuditRow` per consumer as soon as it is complete and keeps an
:class:`AuditSummary` up to date, so a caller can stream rows to a file with
flat memory however many consumers there are.

Definitions:

* ``last_backup``: the newest ``completed`` time among the jobs of the window
  that are backups (any type but Restore/Retrieve) and ended well (status
  "Completed" or "Completed with warnings"). ``None`` means no good backup in
  the window, which is what an audit asks; the report's ``report_date`` is a
  day, not a backup time, so it is given separately.
* ``jobs_failed``: jobs of the window whose status is Failed, Missed or Severed.
* ``has_node``: the consumer has a node (404 on its node: no); ``node_name`` is the
  node's Storage Protect name, known once it is activated.
* ``node_activated``: the node has an activation date and is not decommissioned.
* ``nodes without backup``: activated nodes audited without error and with no
  ``last_backup``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from .._exceptions import (
    CloutilityError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from .._models import Consumer, Job, Node, NodeReport, SimpleBusinessUnit
from .._walk import UnitError, flatten

if TYPE_CHECKING:
    from .._client import Cloutility

__all__ = [
    "FIELDS",
    "Audit",
    "AuditRow",
    "AuditSummary",
    "ListedConsumer",
    "flatten",
    "get_tree",
    "audit_row",
    "failed",
    "last_backup",
    "list_consumers",
    "short_error",
]

FAILED_STATUSES = frozenset({"failed", "missed", "severed"})
NOT_BACKUPS = frozenset({"restore", "retrieve"})


@dataclasses.dataclass(frozen=True)
class AuditRow:
    """The audit of one consumer (or of a business unit whose list failed)."""

    bunit_id: int | None
    bunit_name: str | None
    consumer_id: int | None = None
    consumer_name: str | None = None
    has_node: bool = False
    node_name: str | None = None
    node_activated: bool = False
    node_locked: bool | None = None
    last_backup: dt.datetime | None = None
    report_date: dt.datetime | None = None
    storage_mb: float | None = None
    jobs_total: int = 0
    jobs_failed: int = 0
    warnings: int | None = None
    warning_names: tuple[str, ...] = ()
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: datetimes in ISO 8601 (UTC, ``Z``), tuples as lists."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if isinstance(value, dt.datetime):
                value = iso(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


FIELDS = tuple(field.name for field in dataclasses.fields(AuditRow))


def iso(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    utc = moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    return utc.replace("+00:00", "Z")


@dataclasses.dataclass
class AuditSummary:
    """Running totals of an audit."""

    since: dt.timedelta
    consumers: int = 0
    bunits: int = 0
    failed_jobs: int = 0
    without_backup: int = 0
    errors: int = 0
    elapsed: float = 0.0

    def add(self, row: AuditRow) -> None:
        if row.consumer_id is not None:
            self.consumers += 1
        self.failed_jobs += row.jobs_failed
        if row.error is not None:
            self.errors += 1
        elif row.node_activated and row.last_backup is None:
            self.without_backup += 1

    def line(self) -> str:
        hours = self.since.total_seconds() / 3600
        window = f"{hours:g} h"
        return (
            f"Audited {_plural(self.consumers, 'consumer')} in "
            f"{_plural(self.bunits, 'business unit')} in {self.elapsed:.1f} s: "
            f"{_plural(self.failed_jobs, 'failed job')}, "
            f"{_plural(self.without_backup, 'node')} without backup in the last {window}, "
            f"{_plural(self.errors, 'error')}."
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def short_error(step: str, exc: BaseException) -> str:
    """``"node: HTTP 500: message"``: what failed, without the (long) URL."""
    if isinstance(exc, CloutilityError):
        if exc.status is not None:
            return f"{step}: HTTP {exc.status}: {exc.message}"
        return f"{step}: {exc.message}"
    return f"{step}: {type(exc).__name__}: {exc}"


@dataclasses.dataclass(frozen=True)
class ListedConsumer:
    """A consumer with its unit, or (``consumer=None``) a unit whose list failed."""

    unit: SimpleBusinessUnit
    consumer: Consumer | None
    error: str | None = None


async def get_tree(api: Cloutility, root: int | None) -> SimpleBusinessUnit:
    """The caller's tree, or the one under ``root`` (a unit outside it: ValidationError)."""
    try:
        return await api.bunit_tree(root)
    except (NotFoundError, PermissionDeniedError) as exc:
        if root is None:
            raise
        raise ValidationError(f"business unit {root} is not in your tree ({exc.message})") from exc


async def list_consumers(
    api: Cloutility,
    tree: SimpleBusinessUnit,
    concurrency: int | None = None,
    *,
    on_listed: Callable[[int], None] | None = None,
) -> AsyncGenerator[ListedConsumer, None]:
    """The consumers of every unit of ``tree``, listed concurrently, in completion order.

    The SDK's own walk: a unit whose list fails yields one ``ListedConsumer``
    with ``consumer=None`` and the ``error``, instead of ending the walk.
    ``on_listed(n)`` counts them as they come.
    """
    walk = api.walk_consumers(tree, concurrency=concurrency, unit_errors="yield")
    async with contextlib.aclosing(walk) as entries:
        async for entry in entries:
            if on_listed is not None:
                on_listed(1)
            if isinstance(entry, UnitError):
                error = short_error("consumers", entry.error)
                yield ListedConsumer(entry.bunit, entry.consumer, error)
            else:
                yield ListedConsumer(entry.bunit, entry.consumer)
    await anyio.lowlevel.checkpoint()  # a cancelled run raises here, never ends quietly


async def _check_complete(complete: bool, what: str) -> None:
    """A map stream also ends when the client's task group cancels its workers (a
    Ctrl-C that trio delivers in a worker, for one): never take that for the end."""
    await anyio.lowlevel.checkpoint()  # raises here if our scope is being cancelled
    if not complete:
        raise CloutilityError(f"{what} stopped before the end")


class Audit:
    """One audit run: ``async for row in audit.rows(): ...``, then ``audit.summary``.

    It runs in two phases so that progress is honest: first the consumers of every
    unit are listed (``discovered`` so far, of ``units`` business units), then each
    is audited (``done`` of ``total``, known before the first audit starts).
    ``on_progress`` is called (synchronously) whenever one of those changes.
    """

    def __init__(
        self,
        api: Cloutility,
        *,
        root: int | None = None,
        since: dt.timedelta = dt.timedelta(hours=24),
        concurrency: int | None = None,
        now: dt.datetime | None = None,
        on_progress: Callable[[Audit], None] | None = None,
    ) -> None:
        if since <= dt.timedelta(0):
            raise ValidationError(f"since must be positive, got {since}")
        self.api = api
        self.root = root
        self.since = since
        self.concurrency = concurrency
        self.now = now
        self.summary = AuditSummary(since=since)
        self.units: int | None = None
        self.discovered = 0
        self.total: int | None = None
        self.done = 0
        self._on_progress = on_progress

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self)

    async def rows(self) -> AsyncGenerator[AuditRow, None]:
        """Every consumer's row, in completion order."""
        started = time.monotonic()
        now = self.now or dt.datetime.now(dt.timezone.utc)
        window_start = now - self.since
        try:
            tree = await get_tree(self.api, self.root)
            self.summary.bunits = self.units = sum(1 for _ in flatten(tree))
            self._progress()
            listing = list_consumers(self.api, tree, self.concurrency, on_listed=self._listed)
            async with contextlib.aclosing(listing) as listed:
                items = [item async for item in listed]
            self.total = len(items)
            self._progress()

            async def audit_item(item: ListedConsumer) -> AuditRow:
                return await self._audit_item(item, window_start)

            async with self.api.map(audit_item, items, concurrency=self.concurrency) as results:
                async for result in results:
                    if result.error is not None:  # a bug, not an API error: keep going
                        item = result.item
                        row = audit_row(
                            item.unit, item.consumer, error=short_error("audit", result.error)
                        )
                    else:
                        assert result.value is not None
                        row = result.value
                    self.summary.add(row)
                    self.done += 1
                    self._progress()
                    yield row
            await _check_complete(self.done == self.total, "the audit")
        finally:
            self.summary.elapsed = time.monotonic() - started

    def _listed(self, count: int) -> None:
        self.discovered += count
        self._progress()

    async def _audit_item(self, item: ListedConsumer, window_start: dt.datetime) -> AuditRow:
        if item.error is not None:
            return audit_row(item.unit, item.consumer, error=item.error)
        consumer = item.consumer
        assert consumer is not None
        if item.unit.id is None or consumer.id is None:
            return audit_row(item.unit, item.consumer, error="consumer: no id in the list")
        ref = self.api.bunit(item.unit.id).consumer(consumer.id)
        errors: dict[str, str] = {}
        node: Node | None = None
        report: NodeReport | None = None
        jobs: list[Job] = []

        async def fetch_node() -> None:
            nonlocal node
            try:
                node = await ref.node.get()
            except NotFoundError:
                pass  # no node yet
            except CloutilityError as exc:
                errors["node"] = short_error("node", exc)

        async def fetch_report() -> None:
            nonlocal report
            try:
                report = await ref.latest_report()
            except NotFoundError:
                pass  # no report yet
            except CloutilityError as exc:
                errors["report"] = short_error("report", exc)

        async def fetch_jobs() -> None:
            nonlocal jobs
            try:
                jobs = await ref.jobs(start=window_start)
            except CloutilityError as exc:
                errors["jobs"] = short_error("jobs", exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch_node)
            tg.start_soon(fetch_report)
            tg.start_soon(fetch_jobs)

        error = "; ".join(errors[step] for step in ("node", "report", "jobs") if step in errors)
        return audit_row(
            item.unit, consumer, node=node, report=report, jobs=jobs, error=error or None
        )


def audit_row(
    unit: SimpleBusinessUnit,
    consumer: Consumer | None,
    *,
    node: Node | None = None,
    report: NodeReport | None = None,
    jobs: Sequence[Job] = (),
    error: str | None = None,
) -> AuditRow:
    """The audit of one consumer from what was fetched for it (pure: no I/O).

    The definitions are the module's: see its docstring. ``error`` says what
    could not be fetched; the fields it would have filled keep their defaults.
    """
    warnings: int | None = None
    names: tuple[str, ...] = ()
    if report is not None:
        warnings = len(report.warnings)
        names = tuple(w.type.name for w in report.warnings if w.type and w.type.name)
    return AuditRow(
        bunit_id=unit.id,
        bunit_name=unit.name,
        consumer_id=None if consumer is None else consumer.id,
        consumer_name=None if consumer is None else consumer.name,
        has_node=node is not None,
        node_name=None if node is None else node.tsm_name,
        node_activated=node is not None
        and node.activated_date is not None
        and not node.decommissioned,
        node_locked=None if node is None else node.locked,
        last_backup=last_backup(jobs),
        report_date=None if report is None else report.report_date,
        storage_mb=None if report is None else report.mega_bytes,
        jobs_total=len(jobs),
        jobs_failed=sum(1 for job in jobs if failed(job)),
        warnings=warnings,
        warning_names=names,
        error=error,
    )


def _aware(moment: dt.datetime | None) -> dt.datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _name(lookup: Any) -> str:
    name = getattr(lookup, "name", None)
    return name.strip().lower() if isinstance(name, str) else ""


def failed(job: Job) -> bool:
    """A job that ended badly: Failed, Missed or Severed (any "Failed ..." status too)."""
    status = _name(job.status)
    return status in FAILED_STATUSES or status.startswith("failed")


def last_backup(jobs: Sequence[Job]) -> dt.datetime | None:
    """The newest ``completed`` of a backup (not Restore/Retrieve) that ended well."""
    done = [
        _aware(job.completed)
        for job in jobs
        if job.completed is not None
        and _name(job.type) not in NOT_BACKUPS
        and _name(job.status).startswith("completed")
    ]
    return max(done, default=None)
