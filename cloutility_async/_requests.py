"""What the sender puts on the wire: a call's request, credentials only for the API.

One concern, no I/O: a ``Call`` is what one ``send()`` asks for, and given the
bearer token chosen for an attempt, ``RequestBuilder`` makes the
``httpx.Request`` to send. ``Origin`` and ``Authorization`` go only to the
configured API's origin; everything else gets neither.

For a transport that sends it without one (the SDK's own: aiohttp on asyncio,
h11 on trio), a body-less request to the API is a ``PlainRequest`` instead: its header lines,
built once per token, and what it takes to build the ``httpx.Request`` if
anything asks for it (an error, a redirect, a debug log line); a 2xx never does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._instrumentation import Resend
    from ._retry import RetryPolicy

__all__ = ["Call", "PlainRequest", "RequestBuilder"]

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
        headers: Mapping[str, str],
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


class PlainRequest:
    """A body-less request to the API, for a transport that sends it as header lines.

    ``lines`` are the (lower-case name, value) pairs ``RequestBuilder.build``
    would put in the ``httpx.Request``, in its order (Host first); the same tuple
    for every request with the same token, so a transport converts it once.
    ``raw_lines`` are the same as bytes, names as httpx keeps them (``Host``).
    ``origin`` is the API's (scheme, host[:port]), which ``url`` is on.
    ``to_httpx()`` builds that request, equal to ``build``'s, when something asks.
    """

    __slots__ = (
        "_bearer",
        "_builder",
        "lines",
        "method",
        "origin",
        "raw_lines",
        "timeout",
        "url",
    )

    def __init__(
        self,
        builder: RequestBuilder,
        method: str,
        url: httpx.URL,
        bearer: str | None,
        lines: tuple[tuple[str, str], ...],
        raw_lines: list[tuple[bytes, bytes]],
        timeout: Mapping[str, float | None],
    ) -> None:
        self._builder = builder
        self.origin = builder.origin
        self.method = method
        self.url = url
        self._bearer = bearer
        self.lines = lines
        self.raw_lines = raw_lines
        self.timeout = timeout

    def to_httpx(self) -> httpx.Request:
        return self._builder._plain(self.method, self.url, self._bearer, self.timeout)

    @property
    def headers(self) -> httpx.Headers:
        return self.to_httpx().headers


class RequestBuilder:
    """Builds the requests of one client (its ``Origin``, ``User-Agent`` and timeouts)."""

    __slots__ = (
        "_base_headers",
        "_host",
        "_lines",
        "_lines_bearer",
        "_no_body",
        "_plain_headers",
        "_plain_key",
        "_raw_lines",
        "origin",
        "timeout",
    )

    def __init__(
        self, *, origin: str, user_agent: str, timeout: httpx.Timeout, api_url: httpx.URL
    ) -> None:
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
        # The same as a PlainRequest's lines, per bearer: the API's host is fixed.
        self._host = api_url.netloc
        self.origin = (api_url.scheme, self._host.decode("ascii"))
        self._lines_bearer: str | None = None
        self._lines: tuple[tuple[str, str], ...] | None = None
        self._raw_lines: list[tuple[bytes, bytes]] = []

    def plain(
        self, method: str, url: httpx.URL, bearer: str | None, timeout: Mapping[str, float | None]
    ) -> PlainRequest:
        """A body-less request to the API (``url`` is on its origin) as a ``PlainRequest``."""
        lines = self._lines
        if lines is None or bearer != self._lines_bearer:
            self._raw_lines = self._plain_header_lines(bearer, self._host)
            lines = tuple(
                (name.decode("ascii").lower(), value.decode("ascii"))
                for name, value in self._raw_lines
            )
            self._lines, self._lines_bearer = lines, bearer
        return PlainRequest(self, method, url, bearer, lines, self._raw_lines, timeout)

    def for_call(
        self, call: Call, bearer: str | None, on_api: bool, *, plain: bool
    ) -> httpx.Request | PlainRequest:
        """What an attempt of ``call`` sends; a ``PlainRequest`` if ``plain`` (the transport
        takes one) and the request is a body-less one to the API."""
        if (
            plain
            and on_api
            and call.body is None
            and call.stream is None
            and not call.headers
            and call.method not in _BODY_METHODS
        ):
            return self.plain(call.method, call.url, bearer, call.timeout)
        return self.build(
            call.method,
            call.url,
            call.body,
            call.stream,
            call.headers,
            bearer,
            on_api,
            call.timeout,
        )

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
            lines = self._plain_header_lines(bearer, url.netloc if url.host else b"")
            self._plain_headers = httpx.Headers(lines)
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

    def _plain_header_lines(self, bearer: str | None, host: bytes) -> list[tuple[bytes, bytes]]:
        """What httpx.Request makes of a body-less request's headers: str encoded as
        ASCII, the Host it adds first (none for a URL without a host)."""
        fields = dict(self._base_headers)
        if bearer is not None:
            fields["Authorization"] = f"Bearer {bearer}"
        lines = [(b"Host", host)] if host else []
        return lines + [(k.encode("ascii"), v.encode("ascii")) for k, v in fields.items()]
