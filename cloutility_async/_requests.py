"""What the sender puts on the wire: a call's request, credentials only for the API.

One concern, no I/O: a ``Call`` is what one ``send()`` asks for, and given the
bearer token chosen for an attempt, ``RequestBuilder`` makes the
``httpx.Request`` to send. ``Origin`` and ``Authorization`` go only to the
configured API's origin; everything else gets neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._instrumentation import Resend
    from ._retry import RetryPolicy

__all__ = ["Call", "RequestBuilder"]

# Methods for which httpx.Request adds ``Content-Length: 0`` to a body-less request.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Call:
    """One ``Sender.send()``: the request its layers send, and what redirects change."""

    __slots__ = (
        "attempts",
        "authenticated",
        "body",
        "headers",
        "limited",
        "method",
        "policy",
        "redirects",
        "replayed_401",
        "resend",
        "retry_safe",
        "stream",
        "timeout",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        stream: httpx.AsyncByteStream | None,
        headers: dict[str, str],
        policy: RetryPolicy,
        timeout: Mapping[str, float | None],
    ) -> None:
        self.method = method
        self.url = url
        self.body = body
        self.stream = stream
        self.headers = headers
        self.policy = policy
        self.timeout = timeout  # httpx's timeout extension: Timeout.as_dict()
        self.authenticated = True
        self.limited = True  # waits for a slot of the client's limiter
        self.retry_safe = True  # may it be sent again after it may have arrived
        self.redirects = 0
        self.replayed_401 = False
        self.attempts = 0  # sent to the transport so far: retries, the replay, redirects
        self.resend: Resend | None = None  # why the next attempt is sent again (for the hooks)


class RequestBuilder:
    """Builds the requests of one client (its ``Origin``, ``User-Agent`` and timeouts)."""

    __slots__ = ("_base_headers", "_no_body", "_plain_headers", "_plain_key", "timeout")

    def __init__(self, *, origin: str, user_agent: str, timeout: httpx.Timeout) -> None:
        # The client's timeouts, as the request extension httpx (and our aiohttp transport) read.
        self.timeout: Mapping[str, float | None] = timeout.as_dict()
        self._base_headers = {
            "Origin": origin,
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        # The headers of a body-less request, built once per (bearer, host): what
        # httpx.Request would build (Host first), so each request only copies them.
        self._plain_key: tuple[str | None, bytes] | None = None
        self._plain_headers = httpx.Headers()
        self._no_body = httpx.ByteStream(b"")  # not at import: httpx loads with a client

    def build(
        self,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        stream: httpx.AsyncByteStream | None,
        headers: Mapping[str, str],
        bearer: str | None,
        on_api: bool,
        timeout: Mapping[str, float | None],
    ) -> httpx.Request:
        """The request; ``bearer`` and ``Origin`` are sent only when ``on_api``."""
        plain = on_api and body is None and stream is None and not headers
        if plain and method not in _BODY_METHODS:
            return self._plain(method, url, bearer, timeout)
        fields = dict(self._base_headers)
        fields.update(headers)
        if not on_api:
            # Credentials (and the Origin they belong to) never leave the API's origin.
            fields.pop("Authorization", None)
            fields.pop("Origin", None)
        elif bearer is not None:
            fields["Authorization"] = f"Bearer {bearer}"
        if stream is not None:
            # httpx adds no default headers to a request built from a stream, not even Host.
            fields.setdefault("Host", url.netloc.decode("ascii"))
        request = httpx.Request(method, url, headers=fields, content=body, stream=stream)
        request.extensions["timeout"] = timeout
        return request

    def _plain(
        self, method: str, url: httpx.URL, bearer: str | None, timeout: Mapping[str, float | None]
    ) -> httpx.Request:
        """A body-less request, equal to what ``build`` makes through ``httpx.Request``'s
        own header preparation (Host first, no Content-Length), at a fraction of its cost."""
        key = (bearer, url.netloc)
        if key != self._plain_key:
            fields = dict(self._base_headers)
            if bearer is not None:
                fields["Authorization"] = f"Bearer {bearer}"
            # httpx encodes str headers as ASCII, and puts the Host it adds first.
            headers = [(b"Host", url.netloc)] if url.host else []
            headers += [(k.encode("ascii"), v.encode("ascii")) for k, v in fields.items()]
            self._plain_headers = httpx.Headers(headers)
            self._plain_key = key
        request = httpx.Request(
            method,
            url,
            headers=self._plain_headers,
            stream=self._no_body,
            extensions={"timeout": timeout},
        )
        request.read()  # an empty body, read: as httpx.Request(content=None) leaves it
        return request
