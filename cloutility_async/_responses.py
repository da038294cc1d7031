"""Pure helpers on responses and the errors made of them: no I/O, nothing that sends.

The transport and the token manager both decode and name responses; this is
the one place that does it, so that the token manager needs no transport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from ._exceptions import APIError, CloutilityError, DecodeError

__all__ = ["LazyResponse", "decode_error", "decode_json", "response_from_body", "scrub"]

_EXTENSIONS = {"http_version": b"HTTP/1.1"}  # httpx.Response copies it


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
        error.headers = httpx.Headers(
            [(name, _masked(value, secrets)) for name, value in error.headers.multi_items()]
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
    extensions: Mapping[str, Any] = _EXTENSIONS,
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


class _RequestSource(Protocol):
    def to_httpx(self) -> httpx.Request: ...


class LazyResponse(httpx.Response):
    """A response read whole and not encoded, whose parts are built when first asked for.

    What ``response_from_body`` returns for such a body (status, headers, body,
    request, flags), for the transports that send a request without an
    ``httpx.Request``: a 2xx whose JSON is decoded never asks for its headers or
    request, and building them costs more than the rest of the answer.
    ``source.to_httpx()`` builds the request; the headers come from the raw lines.
    """

    # httpx.Response.__init__'s values for a body that has been read and closed.
    next_request = None
    is_closed = True
    is_stream_consumed = True
    default_encoding = "utf-8"
    _num_bytes_downloaded = 0

    def __init__(  # no super().__init__(): its work is what is put off
        self,
        status: int,
        raw_headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        source: _RequestSource,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.status_code = status
        self._content = body
        self._raw_headers = raw_headers
        self._source = source
        if extensions is not None:  # else HTTP/1.1, and the status's usual reason
            self.extensions = extensions

    def __getattr__(self, name: str) -> object:
        """Build a part on first use (only called for an attribute not set yet)."""
        value: object
        if name == "headers":
            value = httpx.Headers(self._raw_headers)
            if self._content and "content-length" not in value:
                value["Content-Length"] = str(len(self._content))  # as Response(content=) adds
        elif name == "_request":
            value = self._source.to_httpx()
        elif name == "extensions":
            value = dict(_EXTENSIONS)
        elif name == "history":
            value = []
        elif name == "stream":
            value = httpx.ByteStream(self._content)
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value
