"""cloutility-async: the async Python SDK for the Cloutility REST API."""

import typing as _typing

from . import _lean_httpx  # noqa: F401  (first: httpx without its command line)
from ._auth import Token, TokenHook
from ._client import DEFAULT_BASE_URL, Cloutility
from ._concurrency import Err, MapResult, MapStream, Ok
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    CloutilityError,
    ConfigurationError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    ValidationError,
)
from ._instrumentation import (
    Hooks,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    SchemaDrift,
    TokenGranted,
    TokenRefused,
)
from ._logging import setup_logging_from_env as _setup_logging_from_env
from ._options import ClientOptions
from ._public import say_public as _say_public
from ._resources import (
    BusinessUnitRef,
    CollectionRef,
    ConsumerRef,
    InvoiceFileSource,
    NodeRef,
    Ref,
    ResourceRef,
    TimeZoneRef,
)
from ._retry import RetryPolicy
from ._statistics import ClientStatistics
from ._stores import FileTokenStore, MemoryTokenStore, RedisTokenStore, TokenStore
from ._version import __version__
from ._walk import ConsumerEntry, UnitError

if _typing.TYPE_CHECKING:  # the model classes load on first use (`__getattr__`)
    from ._models import (
        Address,
        APIEndpoint,
        AuditLogEntry,
        AuditLogType,
        BackupServer,
        BillingData,
        BusinessUnit,
        BusinessUnitTag,
        ClientOptionSet,
        Collection,
        Consumer,
        Contract,
        Domain,
        Filespace,
        Invoice,
        InvoiceFile,
        Job,
        Lookup,
        Model,
        Node,
        NodeOperatingSystem,
        NodeReport,
        NodeReportWarning,
        NodeType,
        NodeWarningType,
        SimpleBusinessUnit,
        TimeZone,
        User,
    )

__all__ = [
    "APIEndpoint",
    "APIError",
    "Address",
    "AuditLogEntry",
    "AuditLogType",
    "AuthenticationError",
    "BackupServer",
    "BadRequestError",
    "BillingData",
    "BusinessUnit",
    "BusinessUnitRef",
    "BusinessUnitTag",
    "ClientOptionSet",
    "ClientOptions",
    "ClientStateError",
    "ClientStatistics",
    "Cloutility",
    "CloutilityError",
    "Collection",
    "CollectionRef",
    "ConfigurationError",
    "ConflictError",
    "Consumer",
    "ConsumerEntry",
    "ConsumerRef",
    "Contract",
    "DEFAULT_BASE_URL",
    "DecodeError",
    "Err",
    "Domain",
    "FileTokenStore",
    "Filespace",
    "Hooks",
    "Invoice",
    "InvoiceFileSource",
    "InvoiceFile",
    "Job",
    "Lookup",
    "MapResult",
    "MapStream",
    "MemoryTokenStore",
    "Model",
    "Node",
    "NodeOperatingSystem",
    "NodeRef",
    "NodeReport",
    "NodeReportWarning",
    "NodeType",
    "NodeWarningType",
    "NotFoundError",
    "Ok",
    "PermissionDeniedError",
    "RateLimitError",
    "RedisTokenStore",
    "RetryPolicy",
    "Ref",
    "RequestTimeoutError",
    "RequestFinished",
    "RequestStarted",
    "ResourceRef",
    "RetryScheduled",
    "SchemaDrift",
    "ServerError",
    "SimpleBusinessUnit",
    "TimeZone",
    "TimeZoneRef",
    "Token",
    "TokenGranted",
    "TokenHook",
    "TokenRefused",
    "TokenStore",
    "TransportError",
    "UnitError",
    "User",
    "ValidationError",
    "__version__",
]

# Reprs and tracebacks say ``cloutility_async.Cloutility``, not the private module
# (the model classes say so too: ``_models`` renames them when it loads).
for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type) and _obj.__module__.startswith("cloutility_async._"):
        _say_public(_obj, __name__)
del _name, _obj, _say_public


def __getattr__(name: str) -> object:
    # The model classes, most of the import time, load on first use: here, or
    # with the first answer a client reads.
    if name in __all__:
        from . import _models

        value = getattr(_models, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# CLOUTILITY_LOG=debug|info|warning turns on a stderr handler (as OPENAI_LOG does).
_setup_logging_from_env()
del _setup_logging_from_env
