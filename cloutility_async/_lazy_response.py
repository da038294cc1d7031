"""The answer of a request the SDK's transports sent without an ``httpx.Request``.

Its own module, imported with those transports: a subclass of ``httpx.Response``
reads httpx when its class is made, and ``import cloutility_async`` loads no httpx.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from ._responses import EXTENSIONS

__all__ = ["LazyResponse"]


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
            value = dict(EXTENSIONS)
        elif name == "history":
            value = []
        elif name == "stream":
            value = httpx.ByteStream(self._content)
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value
