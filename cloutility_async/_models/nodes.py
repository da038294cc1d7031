"""Backup nodes and the Storage Protect objects around them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._base import Model
from .common import (
    Action,
    ActivityType,
    DataSourceState,
    DataSourceType,
    DurationUnit,
    EventReason,
    EventStatus,
    FilespaceOccupancyType,
    NodeGroup,
    NodeOSLevel,
    NodePlatform,
    NodeSyncState,
    NodeTsmClientVersion,
    PeriodUnit,
    RetentionSetState,
    SessionSecurity,
)

if TYPE_CHECKING:
    from .consumers import Consumer

__all__ = [
    "Activity",
    "ActivityLog",
    "ActivityLogFilter",
    "BackupServer",
    "ClientOptionSet",
    "DedupStat",
    "Domain",
    "Event",
    "Filespace",
    "FilespaceOccupancy",
    "Node",
    "NodeOperatingSystem",
    "NodeSchedule",
    "NodeType",
    "RetentionRule",
    "RetentionSet",
    "Schedule",
    "StoragePool",
]


@attrs.frozen(kw_only=True, repr=False)
class BackupServer(Model):
    """A Storage Protect server (``.../defaultserver``)."""

    href: str | None = None
    id: int | None = None
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class Domain(Model):
    """A policy domain of a backup server."""

    href: str | None = None
    server: BackupServer | None = None
    name: str | None = None
    description: str | None = None
    backup_retention: int | None = None
    archive_retention: int | None = None
    missing_in_tsm: bool | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class ClientOptionSet(Model):
    """A client option set of a backup server."""

    href: str | None = None
    name: str | None = None
    description: str | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class NodeType(Model):
    """A kind of backup node (file server, VM, database, ...)."""

    href: str | None = None
    id: int | None = None
    name: str | None = None
    short_name: str | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class NodeOperatingSystem(Model):
    """An operating system a node can run, and the node types it supports."""

    href: str | None = None
    name: str | None = None
    short_name: str | None = None
    supported_node_types: tuple[NodeType, ...] = ()
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class StoragePool(Model):
    """A storage pool of a backup server."""

    name: str | None = None
    type: str | None = None
    total_storage_mega_bytes: float | None = None
    free_storage_mega_bytes: float | None = None
    max_processes: int | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class FilespaceOccupancy(Model):
    """How much of a storage pool a filespace occupies."""

    storage_pool: StoragePool | None = None
    files: int | None = None
    logical_mega_bytes: float | None = None
    logical_mega_bytes_corrected: float | None = None
    dedup_stat_needed: bool | None = None
    dedup_stat_up_to_date: bool | None = None
    physical_mega_bytes: float | None = None
    reporting_mega_bytes: float | None = None
    storage_mega_bytes: float | None = None
    type: FilespaceOccupancyType | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class DedupStat(Model):
    """Deduplication statistics of a filespace in a storage pool."""

    sp_created_date: datetime | None = None
    storage_pool_name: str | None = None
    storage_pool: StoragePool | None = None
    node_name: str | None = None
    filespace_name: str | None = None
    filespace: Filespace | None = None
    physical_mega_bytes: float | None = None
    protected_mega_bytes: float | None = None
    type: str | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Schedule(Model):
    """A client schedule of a policy domain."""

    name: str | None = None
    description: str | None = None
    domain: Domain | None = None
    action: Action | None = None
    objects: str | None = None
    options: str | None = None
    as_node_names: tuple[str, ...] = ()
    start_time: datetime | None = None
    period_unit: PeriodUnit | None = None
    duration: int | None = None
    duration_unit: DurationUnit | None = None
    priority: int | None = None
    day_of_week: str | None = None
    monday: bool | None = None
    tuesday: bool | None = None
    wednesday: bool | None = None
    thursday: bool | None = None
    friday: bool | None = None
    saturday: bool | None = None
    sunday: bool | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class NodeSchedule(Model):
    """The binding of a node to a schedule, with its success record."""

    schedule: Schedule | None = None
    node: Node | None = None
    last_successful: datetime | None = None
    error_count: int | None = None
    error_handled: bool | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class ActivityLogFilter(Model):
    """A filter hiding activity log messages of a node."""

    filter: str | None = None
    message_number: str | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class ActivityLog(Model):
    """One message of a node's activity log."""

    severity: str | None = None
    message: str | None = None
    message_number: int | None = None
    node: Node | None = None
    schedule: Schedule | None = None
    activity: Activity | None = None
    filtered: bool | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Activity(Model):
    """A session or process of a node on the backup server."""

    in_progress: bool | None = None
    type: ActivityType | None = None
    address: str | None = None
    # The reference spells the JSON key `examindedFiles`.
    examined_files: int | None = None
    affected_files: int | None = None
    failed_files: int | None = None
    bytes: int | None = None
    idle: int | None = None
    media_wait: int | None = None
    processes: int | None = None
    successful: bool | None = None
    communicate_wait: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    details: str | None = None
    node: Node | None = None
    data_mover: Node | None = None
    filespace: Filespace | None = None
    sub_entity: str | None = None
    as_node: str | None = None
    schedule: Schedule | None = None
    event: Event | None = None
    activity_logs: tuple[ActivityLog, ...] = ()
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Event(Model):
    """A scheduled event of a node and its outcome."""

    status: EventStatus | None = None
    result: int | None = None
    reason: EventReason | None = None
    scheduled_start: datetime | None = None
    actual_start: datetime | None = None
    completed: datetime | None = None
    updated_to_job: bool | None = None
    node: Node | None = None
    data_mover: Node | None = None
    domain: Domain | None = None
    schedule: Schedule | None = None
    activities: tuple[Activity, ...] = ()
    imported_from_node_update: bool | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class RetentionRule(Model):
    """A rule creating retention sets on a schedule."""

    name: str | None = None
    node_paths: str | None = None
    filespace_paths: str | None = None
    retention_days: int | None = None
    is_active: bool | None = None
    start_time: datetime | None = None
    description: str | None = None
    schedule_style: str | None = None
    frequency: str | None = None
    day_of_week: str | None = None
    month: str | None = None
    day_of_month: str | None = None
    week_of_month: str | None = None
    next_start: datetime | None = None
    previous_start: datetime | None = None
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class RetentionSet(Model):
    """A point-in-time retention set of nodes and filespaces."""

    description: str | None = None
    expiry_date: datetime | None = None
    file_count: int | None = None
    sp_id: int | None = None
    retention_period: str | None = None
    rule: RetentionRule | None = None
    size_mega_bytes: int | None = None
    state: RetentionSetState | None = None
    point_in_time: datetime | None = None
    last_updated_by: str | None = None
    last_updated: datetime | None = None
    nodes: tuple[Node, ...] = ()
    filespaces: tuple[Filespace, ...] = ()
    id: int | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Filespace(Model):
    """A filespace of a node (``.../node/filespaces``)."""

    href: str | None = None
    tsm_filespace_id: str | None = None
    type: str | None = None
    capacity_mega_bytes: float | None = None
    front_end_capacity_mega_bytes: int | None = None
    percentage_utilized: float | None = None
    last_backup_start: datetime | None = None
    last_backup_end: datetime | None = None
    occupancies: tuple[FilespaceOccupancy, ...] = ()
    dedup_stats: tuple[DedupStat, ...] = ()
    activities: tuple[Activity, ...] = ()
    events: tuple[Event, ...] = ()
    node: Node | None = None
    retention_sets: tuple[RetentionSet, ...] = ()
    name: str | None = None
    data_source_state: DataSourceState | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Node(Model):
    """A backup node (``.../consumers/{id}/node``).

    ``tsm_password`` is left out of the repr.
    """

    href: str | None = None
    cpu_count: int | None = None
    activated_date: datetime | None = None
    locked: bool | None = None
    operating_system: NodeOperatingSystem | None = None
    type: NodeType | None = None
    sync_state: NodeSyncState | None = None
    # Not in the reference's Node, but part of its node creation body.
    server: BackupServer | None = None
    domain: Domain | None = None
    client_option_set: ClientOptionSet | None = None
    schedules: tuple[Schedule, ...] = ()
    node_schedules: tuple[NodeSchedule, ...] = ()
    filespaces: tuple[Filespace, ...] = ()
    events: tuple[Event, ...] = ()
    unscheduled_activities: tuple[Activity, ...] = ()
    ticket: str | None = None
    retention_sets: tuple[RetentionSet, ...] = ()
    activity_logs: tuple[ActivityLog, ...] = ()
    proxy_agents: tuple[Node, ...] = ()
    proxy_targets: tuple[Node, ...] = ()
    node_groups: tuple[NodeGroup, ...] = ()
    tsm_name: str | None = None
    tsm_node_id: str | None = None
    tsm_password: str | None = attrs.field(default=None, repr=False)
    contact: str | None = None
    platform: NodePlatform | None = None
    tsm_client_version: NodeTsmClientVersion | None = None
    os_level: NodeOSLevel | None = None
    tcp_name: str | None = None
    tcp_address: str | None = None
    mac_address: str | None = None
    session_security: SessionSecurity | None = None
    hypervisor: str | None = None
    contains_vm_filespaces: bool | None = None
    # Documented as strings; kept verbatim.
    last_access_time: str | None = None
    registered_time: str | None = None
    decommissioned: bool | None = None
    replication_state: bool | None = None
    replication_mode: int | None = None
    replication_server_primary: str | None = None
    replication_server_secondary: str | None = None
    replication_server_secondary2: str | None = None
    activity_log_filters: tuple[ActivityLogFilter, ...] = ()
    # SAP HANA specific and undocumented: kept as plain JSON.
    remote_activities: tuple[Any, ...] = ()
    name: str | None = None
    data_source_state: DataSourceState | None = None
    data_source_type: DataSourceType | None = None
    consumer: Consumer | None = None
    id: int | None = None
    created_date: datetime | None = None
