"""The error tree of cloutility-async.

Every error the public API raises is a ``CloutilityError``; no exception of
httpx, aiohttp, anyio or cattrs escapes, nor is one chained as ``__cause__`` or
``__context__`` of an error mapped from the network: httpx's and aiohttp's keep
the request, its ``Authorization`` header and body included::

    CloutilityError
    ├── ConfigurationError        bad client options or environment
    ├── ValidationError           bad input, refused before any request is sent
    ├── ClientStateError          the client is not open, or closed while a call waited
    ├── TransportError            network failure or timeout (after retries)
    │   └── RequestTimeoutError   connect, pool, write or read timeout
    ├── DecodeError               a 2xx body that is not the JSON we expect
    └── APIError                  the server answered with an error status
        ├── BadRequestError       400
        ├── AuthenticationError   401, or a refused OAuth grant
        ├── PermissionDeniedError 403
        ├── NotFoundError         404
        ├── ConflictError         409
        ├── RateLimitError        429 (after retries)
        └── ServerError           5xx (after retries)

Each error carries ``method``, ``url``, ``status`` and the server's
``message`` when they are known (an ``APIError`` also the answer's ``headers``
and ``request_id``); none of them ever holds a secret, nor does anything
reachable from it: a followed link's credentials (``?access_token=...``) read
``REDACTED`` in the URL, the message and the headers, as in the log records, and
the headers' credentials are masked (``Set-Cookie: session=***``, ``Bearer ***``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, TypeVar

import httpx

from ._records import MASKED_HEADERS, redact_header, redact_text, redact_url, secret_values

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "CloutilityError",
    "ConfigurationError",
    "ConflictError",
    "DecodeError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "TransportError",
    "ValidationError",
]


# The usual names of a request's id in an answer, most common first.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "correlation-id",
    "x-ms-request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
)


class CloutilityError(Exception):
    """Base of every error raised by cloutility-async."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
    ) -> None:
        hidden = _hidden_in(url)
        if url is not None and (hidden or "@" in url or "#" in url):
            url = redact_url(url)
        self.message = message = redact_text(message, hidden)
        self.method = method
        self.url = url
        self.status = status
        if server_message is not None:
            server_message = redact_text(server_message, hidden)
        self.server_message = server_message
        super().__init__(message)

    def __str__(self) -> str:
        where = ""
        if self.method and self.url:
            where = f"{self.method} {self.url}"
            if self.status is not None:
                where += f" -> {self.status}"
            where += ": "
        return where + self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only constructors defeat Exception's default pickling.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _hidden_in(url: str | None) -> tuple[str, ...]:
    """The secret query values of ``url``, which the error's texts must not repeat."""
    return secret_values(url) if url is not None and "?" in url else ()


# The names of the headers an error masks, as httpx keeps them (bytes) and as keys() says them.
_MASKED = MASKED_HEADERS | {name.encode() for name in MASKED_HEADERS}


def _redacted_headers(headers: httpx.Headers, hidden: tuple[str, ...]) -> httpx.Headers:
    """``headers`` as an error may hold them: credentials masked (``Set-Cookie:
    session=***``, as the log records show them), and the request URL's secret query
    values ``REDACTED`` where a header quotes them (``Content-Location``)."""
    if not hidden and _MASKED.isdisjoint(_names(headers)):
        return headers  # the common case: nothing to look for
    items = headers.multi_items()
    masked = [(name, redact_header(name, redact_text(value, hidden))) for name, value in items]
    # Encoded as the answer's were decoded: ASCII (httpx's default) fails on a Latin-1 one.
    return headers if masked == items else httpx.Headers(masked, encoding=headers.encoding)


def _names(headers: httpx.Headers) -> Iterable[bytes | str]:
    """The lower-case names of ``headers``: httpx's own list (a seventh of ``keys()``'s cost,
    which decodes each), or ``keys()`` should httpx ever keep them otherwise."""
    try:
        return map(_NAME, headers._list)
    except AttributeError:
        return headers.keys()


_NAME = itemgetter(1)  # of httpx's (raw name, lower-case name, value)


def _rebuild(cls: type[CloutilityError], message: str, state: dict[str, Any]) -> CloutilityError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ConfigurationError(CloutilityError, ValueError):
    """The client's options or environment are missing or invalid."""


class ValidationError(CloutilityError, ValueError):
    """An argument is invalid; raised before any request is sent."""


class ClientStateError(CloutilityError, RuntimeError):
    """The client was used before ``async with`` entered it or after it closed."""


class TransportError(CloutilityError):
    """The request failed on the network (connection, protocol or timeout)."""


class RequestTimeoutError(TransportError):
    """A timeout (connect, a pooled connection, write or read), still after the retries.

    Each timeout applies to one attempt on the wire (``timeout=`` of the client
    or of ``with_options()``); a web backend maps this error to a 504.
    """


class DecodeError(CloutilityError):
    """A successful response whose body is not the JSON we expected."""


class APIError(CloutilityError):
    """The server answered with an error status.

    ``code`` is the machine-readable code of the body when there is one
    (``error`` of an OAuth error, ``code`` of a portal error); ``headers`` are
    the answer's headers (case-insensitive, any secret the client sent masked).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: httpx.Headers | None = None,
        **kwargs: Any,
    ) -> None:
        self.code = code
        if headers is None:
            self.headers = httpx.Headers()
        else:
            self.headers = _redacted_headers(headers, _hidden_in(kwargs.get("url")))
        super().__init__(message, **kwargs)

    @property
    def request_id(self) -> str | None:
        """The server's id for this request (``X-Request-Id`` or the like), or None."""
        for name in REQUEST_ID_HEADERS:
            value: str | None = self.headers.get(name)
            if value:
                return value
        return None


class BadRequestError(APIError):
    """400: the server refused the request's content."""


class AuthenticationError(APIError):
    """401, or the OAuth endpoint refused a grant (bad credentials or client)."""

    @property
    def error(self) -> str | None:
        """The OAuth ``error`` code (e.g. ``invalid_grant``) when the server sent one."""
        return self.code


class PermissionDeniedError(APIError):
    """403: the account may not do this."""


class NotFoundError(APIError):
    """404: no such resource (or it is outside the caller's tree)."""


class ConflictError(APIError):
    """409: the request conflicts with the resource's state."""


class RateLimitError(APIError):
    """429: still rate limited after the configured retries."""


class ServerError(APIError):
    """5xx: the server failed, still after the configured retries."""


E = TypeVar("E", bound=BaseException)


def fresh_copy(error: E) -> E:
    """A copy of ``error`` to raise in another task, so tracebacks do not pile up on one object."""
    try:
        clone = copy.copy(error)
    except Exception:  # an exception type that cannot be copied: share it
        return error
    clone.__cause__ = error.__cause__
    clone.__suppress_context__ = error.__suppress_context__
    return clone.with_traceback(None)
