"""Typed, frozen models of the Cloutility REST resources (attrs classes only).

Every field is optional: the API leaves out whatever it has not defined and
list endpoints send thinner objects than single-item ones. JSON keys are the
camelCase of the attribute names; ``cloutility_async._converter`` does all
conversion. Cross-module references are resolved once, here.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs

from .._public import say_public
from . import _base, billing, business_units, common, consumers, nodes, users
from ._base import EMPTY_MAPPING, Model
from .billing import (
    BillingCycle,
    BillingData,
    BillingDataSummary,
    Contract,
    ContractSubscription,
    Currency,
    Invoice,
    InvoiceFile,
    InvoiceLine,
    InvoiceMethod,
    PaymentTerms,
    Product,
    Referral,
    SubscriptionComponent,
)
from .business_units import Address, BusinessUnit, BusinessUnitTag, SimpleBusinessUnit
from .common import (
    Action,
    ActivityType,
    AddressType,
    APIEndpoint,
    Collection,
    Comment,
    Country,
    DataSourceState,
    DataSourceType,
    DurationUnit,
    ErrorStatus,
    EventReason,
    EventStatus,
    FilespaceOccupancyType,
    InvoiceMethodType,
    JobName,
    JobSeverity,
    JobStatus,
    JobType,
    Language,
    Lookup,
    NodeGroup,
    NodeOSLevel,
    NodePlatform,
    NodeSyncState,
    NodeTsmClientVersion,
    PeriodUnit,
    ProductCode,
    QuantityCalculationOption,
    RetentionSetState,
    ServerType,
    SessionSecurity,
    SupportStatus,
    TimeZone,
)
from .consumers import (
    AuditLogEntry,
    AuditLogType,
    Consumer,
    Job,
    NodeReport,
    NodeReportWarning,
    NodeWarningType,
)
from .nodes import (
    Activity,
    ActivityLog,
    ActivityLogFilter,
    BackupServer,
    ClientOptionSet,
    DedupStat,
    Domain,
    Event,
    Filespace,
    FilespaceOccupancy,
    Node,
    NodeOperatingSystem,
    NodeSchedule,
    NodeType,
    RetentionRule,
    RetentionSet,
    Schedule,
    StoragePool,
)
from .users import IdentityProvider, Privilege, Role, User, UserIdentity

__all__ = [
    "ALL_MODELS",
    "EMPTY_MAPPING",
    "APIEndpoint",
    "Action",
    "Activity",
    "ActivityLog",
    "ActivityLogFilter",
    "ActivityType",
    "Address",
    "AddressType",
    "AuditLogEntry",
    "AuditLogType",
    "BackupServer",
    "BillingCycle",
    "BillingData",
    "BillingDataSummary",
    "BusinessUnit",
    "BusinessUnitTag",
    "ClientOptionSet",
    "Collection",
    "Comment",
    "Consumer",
    "Contract",
    "ContractSubscription",
    "Country",
    "Currency",
    "DataSourceState",
    "DataSourceType",
    "DedupStat",
    "Domain",
    "DurationUnit",
    "ErrorStatus",
    "Event",
    "EventReason",
    "EventStatus",
    "Filespace",
    "FilespaceOccupancy",
    "FilespaceOccupancyType",
    "IdentityProvider",
    "Invoice",
    "InvoiceFile",
    "InvoiceLine",
    "InvoiceMethod",
    "InvoiceMethodType",
    "Job",
    "JobName",
    "JobSeverity",
    "JobStatus",
    "JobType",
    "Language",
    "Lookup",
    "Model",
    "Node",
    "NodeGroup",
    "NodeOSLevel",
    "NodeOperatingSystem",
    "NodePlatform",
    "NodeReport",
    "NodeReportWarning",
    "NodeSchedule",
    "NodeSyncState",
    "NodeTsmClientVersion",
    "NodeType",
    "NodeWarningType",
    "PaymentTerms",
    "PeriodUnit",
    "Privilege",
    "Product",
    "ProductCode",
    "QuantityCalculationOption",
    "Referral",
    "RetentionRule",
    "RetentionSet",
    "RetentionSetState",
    "Role",
    "Schedule",
    "ServerType",
    "SessionSecurity",
    "SimpleBusinessUnit",
    "StoragePool",
    "SubscriptionComponent",
    "SupportStatus",
    "TimeZone",
    "User",
    "UserIdentity",
]


def _all_models() -> tuple[type[Model], ...]:
    found: dict[str, type[Model]] = {}
    for module in (common, business_units, users, consumers, nodes, billing):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, Model) and obj.__name__ == name:
                found[name] = obj
    return tuple(found.values())


#: Every model class (aliases such as ``JobType`` excluded), in definition order.
ALL_MODELS: tuple[type[Model], ...] = _all_models()


def _resolve_annotations() -> None:
    # The modules reference each other only under TYPE_CHECKING, so the string
    # annotations are resolved against the union of their namespaces.
    namespace: dict[str, Any] = {}
    for module in (_base, common, business_units, users, consumers, nodes, billing):
        namespace.update(vars(module))
    models: tuple[type[Model], ...] = (Model, *ALL_MODELS)
    for cls in models:
        attrs.resolve_types(cls, globalns=namespace)
        _keep_resolved(cls)


def _keep_resolved(cls: type[Model]) -> None:
    """The resolved field types as the class's and its ``__init__``'s annotations.

    ``typing.get_type_hints`` reads them in the public package's namespace (the
    class says ``cloutility_async``), where the strings would not resolve.
    """
    fields = attrs.fields(cls)
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - changed in place
    for field in fields:
        if field.name in own:
            own[field.name] = field.type
    init = cls.__dict__.get("__init__")
    if init is not None:
        params = init.__annotations__
        for field in fields:
            if field.alias in params:
                params[field.alias] = field.type


_resolve_annotations()


def _say_public() -> None:
    """The classes the package exports say ``cloutility_async.Consumer`` in reprs and tracebacks.

    They load on first use (see the package's ``__getattr__``), so the package
    cannot rename them when it is imported, as it does its other classes.
    """
    package = sys.modules[__name__.rpartition(".")[0]]
    for name in getattr(package, "__all__", ()):
        obj = globals().get(name)
        if isinstance(obj, type) and obj.__module__.startswith(__name__):
            say_public(obj, package.__name__)


_say_public()
