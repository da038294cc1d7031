"""cloutility-async: the async Python SDK for the Cloutility REST API."""

from __future__ import annotations

from ._auth import Token
from ._client import DEFAULT_BASE_URL, ClientStatistics, Cloutility
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
    ServerError,
    TransportError,
    ValidationError,
)
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "ClientStatistics",
    "Cloutility",
    "CloutilityError",
    "ConfigurationError",
    "ConflictError",
    "DecodeError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "Token",
    "TransportError",
    "ValidationError",
    "__version__",
]

# Reprs and tracebacks say ``cloutility_async.Cloutility``, not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("cloutility_async._"):
        _obj.__module__ = __name__
del _name, _obj
