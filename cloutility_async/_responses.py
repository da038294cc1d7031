"""Pure helpers on responses and the errors made of them: no I/O, nothing that sends.

The transport and the token manager both decode and name responses; this is
the one place that does it, so that the token manager needs no transport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ._exceptions import APIError, CloutilityError, DecodeError

__all__ = ["decode_error", "decode_json", "response_from_body", "scrub"]

EXTENSIONS = {"http_version": b"HTTP/1.1"}  # httpx.Response copies it


def decode_error(message: str, response: httpx.Response) -> DecodeError:
    """A DecodeError naming the method, URL and status of ``response``."""
    return DecodeError(
        message,
        method=response.request.method,
        url=str(response.request.url),
        status=response.status_code,
    )


def _orjson_loads() -> Callable[[bytes], Any] | None:
    """orjson's ``loads`` when the ``speed`` extra is installed (about 5% less CPU per request)."""
    try:
        from orjson import loads
    except ImportError:
        return None
    return loads


_fast_loads = _orjson_loads()


def decode_json(response: httpx.Response) -> Any:
    """The JSON of ``response`` (None if empty), or ``DecodeError`` naming it."""
    content = response.content
    if not content:
        return None
    if _fast_loads is not None:
        try:
            return _fast_loads(content)
        except ValueError:
            pass  # what orjson refuses, json decides (and names)
    try:
        return json.loads(content)
    except ValueError:
        kind = response.headers.get("content-type", "unknown content type")
        problem = f"expected JSON, got {kind} ({len(content)} bytes)"
    except RecursionError:
        problem = f"the JSON body is nested too deeply to decode ({len(content)} bytes)"
    raise decode_error(problem, response)


def scrub(error: CloutilityError, secrets: Sequence[str]) -> CloutilityError:
    """``error`` with every secret in its texts replaced by ``***`` (in place).

    A server may quote what it was sent: an OAuth error that repeats the
    refresh token, a 401 page (or one of its headers) that repeats the bearer token.
    """
    for name in ("message", "server_message", "code"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            setattr(error, name, _masked(value, secrets))
    if isinstance(error, APIError):
        headers = error.headers  # rebuilt in its own encoding (ASCII fails on a Latin-1 one)
        error.headers = httpx.Headers(
            [(name, _masked(value, secrets)) for name, value in headers.multi_items()],
            encoding=headers.encoding,
        )
    error.args = (error.message,)
    return error


def _masked(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


def response_from_body(
    status: int,
    raw_headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    request: httpx.Request,
    extensions: Mapping[str, Any] = EXTENSIONS,
) -> httpx.Response:
    """The response ``httpx.Response(content=body)`` makes, in a quarter of the time.

    For the transports that read the whole body before they answer.
    ``httpx.Response(content=...)`` runs the body through httpx's streaming decoder
    machinery, which costs more than the rest of the response. Without a
    ``Content-Encoding`` there is nothing to decode: the body is set as read, with the
    same headers and flags. With one, the response is left unread, so that the
    caller's ``aread()`` decodes it and a corrupt body fails there, with the
    response (and its status) at hand.
    """
    has_length = encoded = False
    for key, _ in raw_headers:
        name = key.lower()
        if name == b"content-encoding":
            encoded = True
        elif name == b"content-length":
            has_length = True
    response = httpx.Response(
        status,
        headers=raw_headers,
        stream=httpx.ByteStream(body),
        request=request,
        extensions=extensions,
    )
    if body and not has_length:
        response.headers["Content-Length"] = str(len(body))  # as Response(content=) adds it
    if encoded:
        return response
    response._content = body
    response.is_stream_consumed = True
    response.is_closed = True
    return response
