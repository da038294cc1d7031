"""The records the simulated portal keeps: business units, users, consumers and theirs.

Each record keeps the fields the portal stores in ``raw`` (what a PUT merges into);
a consumer's details are generated on first use through its :class:`DetailSource`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "AuditEntry",
    "BusinessUnit",
    "Consumer",
    "DetailSource",
    "InvoiceFile",
    "Job",
    "Report",
    "User",
]

JSON = dict[str, Any]


class DetailSource(Protocol):
    """What generates a consumer's lazy parts (the world)."""

    def _lazy_jobs(self, c: Consumer) -> list[Job]: ...
    def _lazy_reports(self, c: Consumer) -> list[Report]: ...
    def _lazy_filespaces(self, c: Consumer) -> list[JSON]: ...
    def _lazy_audit(self, c: Consumer) -> list[AuditEntry]: ...


@dataclass(eq=False)
class BusinessUnit:
    """A business unit: ``raw`` holds its stored fields (PUT bodies merge into it)."""

    id: int
    parent_id: int | None
    raw: JSON
    timezone_id: int = 4
    children: list[int] = field(default_factory=list)
    consumer_ids: dict[int, None] = field(default_factory=dict)
    user_ids: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.raw.get("name", ""))


@dataclass(eq=False)
class User:
    """A portal user."""

    id: int
    bu_id: int
    raw: JSON


@dataclass(eq=False)
class AuditEntry:
    """One audit log line."""

    id: int
    created: datetime
    type: int
    message: str
    user_name: str
    user_id: int
    descendant: bool
    created_str: str


@dataclass(eq=False)
class Job:
    """A job against a node; ``raw`` lacks href/businessUnitId (computed when rendered)."""

    id: int
    completed: datetime
    raw: JSON


@dataclass(eq=False)
class Report:
    """A daily node report."""

    id: int
    report_date: datetime
    raw: JSON
    status: int
    warnings: list[JSON]


@dataclass(eq=False)
class InvoiceFile:
    """An uploaded invoice file."""

    id: int
    bu_id: int
    created: datetime
    file_name: str
    content_type: str
    data: bytes
    erp_reference: str | None
    send_to_billing_address: bool


class Consumer:
    """A consumption unit.

    The record and node are generated on first use (:meth:`World.details`); jobs,
    reports, filespaces and the audit log each on their own first access, from
    per-consumer seeds, so access order never changes the data.
    """

    __slots__ = (
        "_audit",
        "_filespaces",
        "_jobs",
        "_reports",
        "_world",
        "bu_id",
        "built",
        "created",
        "generated_kind",
        "heavy_audit",
        "id",
        "kind",
        "name",
        "node",
        "raw",
    )

    def __init__(
        self,
        world: DetailSource,
        cid: int,
        bu_id: int,
        name: str,
        kind: int,
        heavy_audit: bool,
        created: datetime,
        *,
        generated: bool = True,
    ) -> None:
        self._world = world
        self.id = cid
        self.bu_id = bu_id
        self.name = name
        self.kind = kind
        self.generated_kind = kind if generated else None
        self.heavy_audit = heavy_audit
        self.created = created
        self.built = False
        self.raw: JSON = {}
        self.node: JSON | None = None
        self._filespaces: list[JSON] | None = None
        self._jobs: list[Job] | None = None
        self._reports: list[Report] | None = None
        self._audit: list[AuditEntry] | None = None

    @property
    def jobs(self) -> list[Job]:
        """Jobs, oldest first."""
        if self._jobs is None:
            self._jobs = self._world._lazy_jobs(self)
        return self._jobs

    @property
    def reports(self) -> list[Report]:
        """Daily node reports, oldest first."""
        if self._reports is None:
            self._reports = self._world._lazy_reports(self)
        return self._reports

    @property
    def filespaces(self) -> list[JSON]:
        """The node's filespaces."""
        if self._filespaces is None:
            self._filespaces = self._world._lazy_filespaces(self)
        return self._filespaces

    @property
    def audit(self) -> list[AuditEntry]:
        """Audit log entries, oldest first."""
        if self._audit is None:
            self._audit = self._world._lazy_audit(self)
        return self._audit

    @property
    def activated(self) -> bool:
        """Does the consumer have an activated node?"""
        return self.node is not None and "activatedDate" in self.node

    def __repr__(self) -> str:
        return f"Consumer(id={self.id}, bu_id={self.bu_id}, name={self.name!r})"
