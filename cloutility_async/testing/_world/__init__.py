"""The simulator's in-memory portal (``Simulator.world``): records, catalogs, generation,
writes and billing, put together in :class:`World`."""

from __future__ import annotations

from .._errors import ApiError
from ._catalog import ACTIVATED, NO_NODE, NOT_ACTIVATED
from ._entities import AuditEntry, BusinessUnit, Consumer, InvoiceFile, Job, Report, User
from ._world import World

__all__ = [
    "ACTIVATED",
    "NOT_ACTIVATED",
    "NO_NODE",
    "ApiError",
    "AuditEntry",
    "BusinessUnit",
    "Consumer",
    "InvoiceFile",
    "Job",
    "Report",
    "User",
    "World",
]
