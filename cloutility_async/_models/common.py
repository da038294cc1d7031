"""Small shared resources: lookups, links, collections, time zones, comments."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

import attrs

from ._base import Model

__all__ = [
    "APIEndpoint",
    "Action",
    "ActivityType",
    "AddressType",
    "Collection",
    "Comment",
    "Country",
    "DataSourceState",
    "DataSourceType",
    "DurationUnit",
    "ErrorStatus",
    "EventReason",
    "EventStatus",
    "FilespaceOccupancyType",
    "InvoiceMethodType",
    "JobName",
    "JobSeverity",
    "JobStatus",
    "JobType",
    "Language",
    "Lookup",
    "NodeGroup",
    "NodeOSLevel",
    "NodePlatform",
    "NodeSyncState",
    "NodeTsmClientVersion",
    "PeriodUnit",
    "ProductCode",
    "QuantityCalculationOption",
    "RetentionSetState",
    "ServerType",
    "SessionSecurity",
    "SupportStatus",
    "TimeZone",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True, repr=False)
class Lookup(Model):
    """A small ``{id, name}`` reference value (states, types, statuses, ...)."""

    id: int | None = None
    name: str | None = None
    created_date: datetime | None = None
    archived_date: datetime | None = None


# The reference documents each of these as its own resource; all are {id, name[, dates]}.
ActivityType = Lookup
AddressType = Lookup
DataSourceState = Lookup
DataSourceType = Lookup
DurationUnit = Lookup
ErrorStatus = Lookup
EventReason = Lookup
EventStatus = Lookup
FilespaceOccupancyType = Lookup
InvoiceMethodType = Lookup
JobName = Lookup
JobSeverity = Lookup
JobStatus = Lookup
JobType = Lookup
NodeGroup = Lookup
NodeOSLevel = Lookup
NodePlatform = Lookup
NodeSyncState = Lookup
NodeTsmClientVersion = Lookup
PeriodUnit = Lookup
ProductCode = Lookup
QuantityCalculationOption = Lookup
RetentionSetState = Lookup
ServerType = Lookup
SessionSecurity = Lookup
SupportStatus = Lookup


@attrs.frozen(kw_only=True, repr=False)
class Collection(Model, Generic[T]):
    """A page of a list (``XxxList``) or an embedded collection stub (``$type`` set).

    Embedded stubs may say ``total: 0, items: []`` although the linked
    collection has members: follow ``href`` to know.
    """

    href: str | None = None
    total: int | None = None
    offset: int | None = None
    first: str | None = None
    items: tuple[T, ...] = ()


@attrs.frozen(kw_only=True, repr=False)
class APIEndpoint(Model):
    """A link to a further call on a resource (``actions`` of a time zone)."""

    name: str | None = None
    method: str | None = None
    href: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class Action(Model):
    """An action offered on a user (``User.actions``)."""

    href: str | None = None
    name: str | None = None
    # Not in the reference's Action, but sent in `/v1/me` responses.
    method: str | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class TimeZone(Model):
    """A time zone a business unit can use."""

    href: str | None = None
    actions: tuple[APIEndpoint, ...] = ()
    name: str | None = None
    windows_id: str | None = None
    offset: int | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Comment(Model):
    """A comment on a consumption unit or a node report (not in the reference)."""

    href: str | None = None
    id: int | None = None
    text: str | None = None
    message: str | None = None
    user_name: str | None = None
    user_id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Country(Model):
    """A country of an address."""

    name: str | None = None
    code: str | None = None
    id: int | None = None
    created_date: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Language(Model):
    """A user interface language."""

    name: str | None = None
    iso639_code: str | None = None
    id: int | None = None
    created_date: datetime | None = None
