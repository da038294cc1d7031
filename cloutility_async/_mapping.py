"""What comes off the wire, mapped once: answers to values, failures to the error tree.

Pure functions over httpx's request and response objects (``read_body`` only
reads a body it is handed). A failure is mapped here without keeping the
lower-level exception: an httpx or aiohttp error holds the request, with its
``Authorization`` header and, for a grant, the password or refresh token in
its body. So what leaves has no ``__cause__`` or ``__context__`` from below,
and exceptions that pass through unmapped (cancellation, an upload's own
error) lose the transport libraries' frames, whose locals hold headers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

import httpx

from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    ValidationError,
)
from ._responses import decode_error

__all__ = [
    "certainly_unsent",
    "encode_json",
    "error_for_response",
    "expect_string",
    "read_body",
    "transport_error",
    "trim_transport_frames",
]


def certainly_unsent(exc: Exception) -> bool:
    """Whether the request certainly never left this process (a function, not a tuple
    of httpx's classes: importing this module does not load httpx)."""
    never = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    return isinstance(exc, never)


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """The (message, code) of any of the portal's error body shapes, or Nones.

    Shapes: OAuth ``{error, error_description}``, the portal's
    ``{status, code, message, developerMessage}``, ASP.NET's ``{message}``,
    a bare JSON string, and empty, HTML or unreadable bodies (no message).
    """
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, RecursionError):
        return None, None
    if isinstance(body, str):
        return body or None, None
    if not isinstance(body, Mapping):
        return None, None
    message = next(
        (
            value
            for key in ("error_description", "message", "developerMessage", "error")
            if isinstance(value := body.get(key), str) and value
        ),
        None,
    )
    code = body.get("error") if isinstance(body.get("error"), str) else body.get("code")
    return message, str(code) if code is not None else None


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_for_response(response: httpx.Response) -> APIError:
    """Map an error response to a typed error naming method, URL and status."""
    status = response.status_code
    server_message, code = _error_body(response)
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else APIError)
    return cls(
        server_message or response.reason_phrase or f"HTTP {status}",
        code=code,
        method=response.request.method,
        url=str(response.request.url),
        status=status,
        server_message=server_message,
        headers=response.headers,
    )


def expect_string(data: Any, response: httpx.Response) -> str:
    """``data`` if the body was a bare JSON string (``fullVersion``, ``activate``)."""
    if not isinstance(data, str):
        raise decode_error("expected a JSON string", response)
    return data


def transport_error(exc: httpx.TransportError, method: str, url: httpx.URL) -> TransportError:
    """The ``TransportError`` for ``exc``, keeping its kind and message but not ``exc``.

    Every timeout (connect, pool, write, read) is a ``RequestTimeoutError``.

    ``exc.request`` holds the headers and body that were sent. A
    ``LocalProtocolError`` is about the request itself, so its text (which can
    quote a header) is not kept.
    """
    if isinstance(exc, httpx.LocalProtocolError):
        message = "LocalProtocolError: the request could not be sent as built"
    else:
        text = str(exc)
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    kind = RequestTimeoutError if isinstance(exc, httpx.TimeoutException) else TransportError
    return kind(message, method=method, url=str(url))


# Modules whose frames hold requests with their headers and bodies in their locals.
_TRANSPORT_MODULES = (
    "httpx.",
    "httpcore.",
    "h11.",
    "aiohttp.",
    "multidict",
    "cloutility_async._aiohttp_transport",
    "cloutility_async._h11_transport",
)


def trim_transport_frames(exc: BaseException) -> None:
    """Splice the transport libraries' frames out of ``exc``'s traceback.

    For exceptions that pass through the transport unmapped (cancellation, an
    upload source's own error): error reporters that record frame locals
    (Sentry, ``traceback`` with ``capture_locals``) would ship the headers
    those frames hold. The caller's frames and the raising frame stay.
    """
    keep = exc.__traceback__
    while keep is not None and keep.tb_next is not None:
        below = keep.tb_next
        if below.tb_frame.f_globals.get("__name__", "").startswith(_TRANSPORT_MODULES):
            keep.tb_next = below.tb_next
        else:
            keep = below


def encode_json(body: Any, method: str, url: httpx.URL) -> bytes:
    """Compact UTF-8 JSON, or ``ValidationError`` before anything is sent."""
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    raise ValidationError(
        f"the request body cannot be sent as JSON ({problem})", method=method, url=str(url)
    )


async def read_body(response: httpx.Response) -> None:
    """Read and decode the body, as ``response.aread()`` does.

    ``aread()`` decodes while it reads: a corrupt body stops it midway and
    leaves the stream's async generators unfinished, which trio reports as
    ``ResourceWarning``s. Here the raw bytes are read to the end first.
    """
    chunks: list[bytes] = []
    raw_chunks = cast("AsyncGenerator[bytes, None]", response.aiter_raw())
    async with contextlib.aclosing(raw_chunks) as raw:
        async for chunk in raw:
            chunks.append(chunk)
    body = b"".join(chunks)
    if "content-encoding" in response.headers:
        body = httpx.Response(200, headers=response.headers, content=body).content
    response._content = body
