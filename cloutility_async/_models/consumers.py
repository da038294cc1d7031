"""Consumption units (consumers) and what hangs off them: jobs, reports, audit logs."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from ._base import Model
from .business_units import BusinessUnitTag
from .common import (
    Comment,
    DataSourceState,
    DataSourceType,
    ErrorStatus,
    JobName,
    JobSeverity,
    JobStatus,
    JobType,
    ServerType,
    SupportStatus,
)

if TYPE_CHECKING:
    from .business_units import BusinessUnit
    from .nodes import Node

__all__ = [
    "AuditLogEntry",
    "AuditLogType",
    "Consumer",
    "Job",
    "NodeReport",
    "NodeReportWarning",
    "NodeWarningType",
]


@attrs.frozen(kw_only=True, repr=False)
class Job(Model):
    """A backup, restore or other job that ran against a node.

    ``duration`` comes from a .NET TimeSpan (``hh:mm:ss``, ``d.hh:mm:ss``).
    """

    href: str | None = None
    business_unit_id: int | None = None
    consumer_id: int | None = None
    data_source_id: int | None = None
    server_id: int | None = None
    # The reference types these as an undocumented `Tag`; BusinessUnitTag is the closest.
    tags: tuple[BusinessUnitTag, ...] = ()
    type: JobType | None = None
    status: JobStatus | None = None
    severity: JobSeverity | None = None
    support_status: SupportStatus | None = None
    data_source_type: DataSourceType | None = None
    data_source_state: DataSourceState | None = None
    scheduled: bool | None = None
    scheduled_start: datetime | None = None
    actual_start: datetime | None = None
    completed: datetime | None = None
    examined_files: int | None = None
    affected_files: int | None = None
    failed_files: int | None = None
    result: int | None = None
    transferred_mega_bytes: float | None = None
    transferred_giga_bytes: float | None = None
    server_type: ServerType | None = None
    job_name: JobName | None = None
    name: str | None = None
    duration: timedelta | None = None
    transferred_mega_bytes_per_second: float | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Consumer(Model):
    """A consumption unit: the portal's handle on one backup node."""

    href: str | None = None
    data_source_type: DataSourceType | None = None
    data_source_is_potential_parent: bool | None = None
    data_source_state: DataSourceState | None = None
    latest_restore_point: datetime | None = None
    name: str | None = None
    billing_start_date: datetime | None = None
    business_unit: BusinessUnit | None = None
    # Not in the reference's Consumer, but present in its example.
    last_comment_time: datetime | None = None
    last_comment_type_id: int | None = None
    comments: tuple[Comment, ...] = ()
    note: str | None = None
    external_reference: str | None = None
    node: Node | None = None
    # Documented as integer, sent as 100.0 in the reference's example.
    limit_high_storage: float | None = None
    allow_no_activity: bool | None = None
    tags: tuple[BusinessUnitTag, ...] = ()
    jobs: tuple[Job, ...] = ()
    id: int | None = None
    created_date: datetime | None = None
    # Documented as boolean, named like dates: either shape is accepted.
    billing_end_date: datetime | bool | None = None
    scheduled_deletion_date: datetime | bool | None = None


@attrs.frozen(kw_only=True, repr=False)
class NodeWarningType(Model):
    """A kind of warning a node report can carry (``/v1/nodewarningtypes``)."""

    name: str | None = None
    uses_limit: bool | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class NodeReportWarning(Model):
    """One warning of a node report."""

    type: NodeWarningType | None = None
    status: ErrorStatus | None = None
    days: int | None = None
    limit: float | None = None
    node_report_id: int | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class NodeReport(Model):
    """Usage of a consumption unit on one day: storage, transfer, status."""

    name: str | None = None
    status_report_id: int | None = None
    pending: bool | None = None
    data_source_type: DataSourceType | None = None
    node_report_type_id: int | None = None
    data_source: str | None = None
    data_source_state: DataSourceState | None = None
    device_name: str | None = None
    tsm_name: str | None = None
    status: ErrorStatus | None = None
    tsm_server_name: str | None = None
    proxy_node_reports: tuple[NodeReport, ...] = ()
    errors_deactivated: bool | None = None
    errors_deactivated_no_activity: bool | None = None
    mega_bytes: float | None = None
    backup_mega_bytes: float | None = None
    archive_mega_bytes: float | None = None
    mega_bytes_delta: float | None = None
    mega_bytes_delta_percentage: float | None = None
    backup_mega_bytes_delta_percentage: float | None = None
    archive_mega_bytes_delta_percentage: float | None = None
    backup_mega_bytes_delta: float | None = None
    archive_mega_bytes_delta: float | None = None
    mega_bytes_for_current_business_unit: float | None = None
    backup_mega_bytes_for_current_business_unit: float | None = None
    archive_mega_bytes_for_current_business_unit: float | None = None
    comments: tuple[Comment, ...] = ()
    transferred_mega_bytes: float | None = None
    transferred_backup_mega_bytes: float | None = None
    transferred_restore_mega_bytes: float | None = None
    percent_of_total_storage_of_business_unit: float | None = None
    consumer_id: int | None = None
    node_id: int | None = None
    business_unit_id: int | None = None
    business_unit_name: str | None = None
    report_date: datetime | None = None
    warnings: tuple[NodeReportWarning, ...] = ()
    id: int | None = None
    created_date: datetime | None = None
    href: str | None = None


class AuditLogType(enum.IntEnum):
    """Kind of an audit log entry; also the values of the ``types`` query parameter.

    A value the server adds later becomes a pseudo-member named ``UNKNOWN_<value>``.
    """

    INFO = 0
    CREATE = 100
    MODIFY = 200
    DELETE = 300
    ERROR = 400

    @classmethod
    def _missing_(cls, value: object) -> AuditLogType | None:
        if isinstance(value, int) and not isinstance(value, bool):
            member = int.__new__(cls, value)
            member._name_ = f"UNKNOWN_{value}"
            member._value_ = value
            return member
        return None


@attrs.frozen(kw_only=True, repr=False)
class AuditLogEntry(Model):
    """One entry of an audit log (``.../auditlogs``)."""

    href: str | None = None
    id: int | None = None
    created_date: datetime | None = None
    type: AuditLogType | None = None
    type_name: str | None = None
    message: str | None = None
    user_name: str | None = None
    user_id: int | None = None
    business_unit_id: int | None = None
    consumer_id: int | None = None
