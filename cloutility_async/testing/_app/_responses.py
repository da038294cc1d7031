"""What a handler answers: a :class:`Response`, built by :func:`ok` or from an :class:`ApiError`."""

from __future__ import annotations

import json
from typing import Any

from .._errors import ApiError

__all__ = [
    "CT_CSV",
    "CT_JSON",
    "DENIED",
    "JSON",
    "NO_CONTENT",
    "Response",
    "dumps",
    "error_response",
    "ok",
]

JSON = dict[str, Any]

CT_JSON = b"application/json; charset=utf-8"
CT_CSV = b"text/csv; charset=utf-8"
DENIED = b'{"message":"Authorization has been denied for this request."}'
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Response:
    """An answer: status, body bytes, content type and extra headers; ``payload`` keeps
    the JSON value a body was encoded from (drift mode transforms it)."""

    __slots__ = ("body", "content_type", "headers", "payload", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes | None = CT_JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
        payload: Any = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers
        self.payload = payload


def ok(obj: Any, status: int = 200) -> Response:
    """A JSON answer (compact, UTF-8)."""
    return Response(status, dumps(obj).encode(), payload=obj)


NO_CONTENT = Response(204, b"", None)


def error_response(exc: ApiError) -> Response:
    """The portal's error body for an :class:`ApiError`."""
    body = {
        "status": exc.status,
        "code": exc.code,
        "message": exc.message,
        "developerMessage": exc.developer,
    }
    return Response(exc.status, dumps(body).encode())
