"""Runtime-configurable faults: latency, 429s, 5xx, HTML pages, dropped connections.

Random faults draw from one ``random.Random(seed)`` so a run is reproducible for a
given request order.  Injected faults (:meth:`Faults.inject`) are deterministic: the
next ``times`` requests that match get the configured answer.

How a *drop* looks to a client:

* on a real socket (:meth:`Simulator.serve_in_thread`, the CLI) the server aborts the
  TCP connection without writing a byte, so httpx raises
  ``httpx.RemoteProtocolError("Server disconnected without sending a response.")`` and
  aiohttp ``ServerDisconnectedError``;
* in-process (``httpx.ASGITransport``) there is no connection to cut, so the app raises
  :class:`SimulatedDisconnect`, a subclass of ``httpx.RemoteProtocolError``: the same
  exception type the socket transport raises.  (With ``raise_app_exceptions=False`` the
  transport turns it into a bare 500 instead.)
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from ._formats import seeded_random

__all__ = ["FaultResponse", "Faults", "InjectedFault", "SimulatedDisconnect"]

_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_JSON = b"application/json; charset=utf-8"
_HTML = b"text/html; charset=utf-8"

_LOGIN_PAGE = (
    '<!DOCTYPE html>\r\n<html lang="en">\r\n<head>\r\n<meta charset="utf-8" />\r\n'
    "<title>Cloutility - Sign in</title>\r\n</head>\r\n<body>\r\n"
    '<form method="post" action="/login"><input name="username" />'
    '<input name="password" type="password" /><button>Sign in</button></form>\r\n'
    "</body>\r\n</html>\r\n"
)
_IIS_500 = (
    "<!DOCTYPE html>\r\n<html>\r\n<head>\r\n<title>Runtime Error</title>\r\n</head>\r\n"
    "<body bgcolor=\"white\">\r\n<span><H1>Server Error in '/' Application.<hr width=100% "
    "size=1 color=silver></H1>\r\n<h2> <i>Runtime Error</i> </h2></span>\r\n</body>\r\n</html>\r\n"
)


def _gateway_page(status: int) -> str:
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def _error_json(status: int, message: str) -> bytes:
    body = {
        "status": status,
        "code": _REASONS.get(status, "Error").replace(" ", ""),
        "message": message,
        "developerMessage": f"Simulated fault: {message}",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _format_seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value.strip()
    if float(value).is_integer():
        return str(int(value))
    return format(value, "g")


class SimulatedDisconnect(httpx.RemoteProtocolError):
    """An in-process dropped connection: the error httpx raises when a server hangs up."""

    def __init__(self, message: str = "Server disconnected without sending a response.") -> None:
        super().__init__(message)


class FaultResponse:
    """What a fault answers instead of the real handler (or ``drop``)."""

    __slots__ = ("body", "drop", "headers", "kind", "status")

    def __init__(
        self,
        kind: str,
        status: int = 0,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        drop: bool = False,
    ) -> None:
        self.kind = kind
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []
        self.drop = drop


class InjectedFault:
    """One rule queued by :meth:`Faults.inject`; ``remaining`` counts down per hit."""

    __slots__ = (
        "_method",
        "_path_re",
        "after",
        "body",
        "delay_ms",
        "drop",
        "headers",
        "hits",
        "match",
        "remaining",
        "status",
    )

    def __init__(
        self,
        match: str,
        status: int,
        *,
        times: int | None,
        body: Any,
        headers: Mapping[str, str] | None,
        drop: bool,
        delay_ms: float,
        after: bool,
    ) -> None:
        self.match = match
        self.status = status
        self.remaining = times
        self.body = body
        self.headers = dict(headers or {})
        self.drop = drop
        self.delay_ms = delay_ms
        self.after = after
        self.hits = 0
        method, path = _split_match(match)
        self._method = method
        self._path_re = re.compile(fnmatch.translate(path)) if path is not None else None

    @property
    def exhausted(self) -> bool:
        """True once the rule has answered ``times`` requests."""
        return self.remaining is not None and self.remaining <= 0

    def matches(self, method: str, path: str, template: str) -> bool:
        """Does this rule apply to a request (path and template are relative to ``/v1``)?"""
        if self._method is not None and self._method != method:
            return False
        if self._path_re is None:
            return True
        return bool(self._path_re.match(path) or self._path_re.match(template))

    def response(self, retry_after: str) -> FaultResponse:
        """Build the answer for one hit."""
        if self.drop:
            return FaultResponse("injected", drop=True)
        headers: dict[str, str] = {k.lower(): v for k, v in self.headers.items()}
        body = self.body
        if body is None:
            if self.status == 401:
                raw = b'{"message":"Authorization has been denied for this request."}'
            elif self.status >= 400:
                raw = _error_json(self.status, f"Injected {self.status} response.")
            else:
                raw = b"{}"
            headers.setdefault("content-type", _JSON.decode())
            if self.status == 429:
                headers.setdefault("retry-after", retry_after)
        elif isinstance(body, bytes):
            raw = body
            headers.setdefault("content-type", "application/octet-stream")
        elif isinstance(body, str):
            raw = body.encode()
            ctype = "text/html; charset=utf-8" if body.lstrip().startswith("<") else "text/plain"
            headers.setdefault("content-type", ctype)
        else:
            raw = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("content-type", _JSON.decode())
        return FaultResponse(
            "injected",
            self.status,
            raw,
            [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        )

    def __repr__(self) -> str:
        what = "drop" if self.drop else str(self.status)
        return (
            f"InjectedFault({self.match!r}, {what}, remaining={self.remaining}, hits={self.hits})"
        )


def _split_match(match: str) -> tuple[str | None, str | None]:
    text = match.strip()
    method: str | None = None
    path: str | None = text
    head, _, tail = text.partition(" ")
    if head.upper() in _HTTP_METHODS or head == "*":
        method = None if head == "*" else head.upper()
        path = tail.strip() or None
    if path in (None, "*"):
        return method, None
    assert path is not None
    if path.startswith("/v1/"):
        path = path[3:]
    elif not path.startswith(("/", "*")):
        path = "/" + path
    return method, path


class Faults:
    """Fault settings; every attribute may be changed while the simulator runs.

    * ``latency_ms`` + uniform ``latency_jitter_ms``: delay before every answer.
    * ``rate_limit_rate``: fraction answered ``429`` with ``Retry-After: retry_after``
      (seconds, integer or fractional, e.g. ``0.05``).
    * ``server_error_rate``: fraction answered with one of ``server_error_statuses``
      (502/503/504), half with a JSON error body and half with an nginx HTML page.
    * ``drop_rate``: fraction whose connection is dropped (see the module docs).
    * ``html_error_rate``: fraction answered with an HTML page: a ``200`` login page or an
      IIS ``500`` runtime error page.
    * ``include_oauth``: apply faults to ``POST /v1/oauth`` too (default ``False``;
      injected rules whose pattern names ``oauth`` always apply).
    * ``strict``: the pytest plugin's simulator fixture fails the test at teardown if
      an injected answer was never used (:meth:`assert_all_fired`), as pytest-httpx
      does for responses that were never requested.
    """

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        latency_jitter_ms: float = 0.0,
        rate_limit_rate: float = 0.0,
        retry_after: float | str = 1,
        server_error_rate: float = 0.0,
        server_error_statuses: tuple[int, ...] = (502, 503, 504),
        drop_rate: float = 0.0,
        html_error_rate: float = 0.0,
        include_oauth: bool = False,
        seed: int = 0,
        strict: bool = False,
    ) -> None:
        self.latency_ms = latency_ms
        self.latency_jitter_ms = latency_jitter_ms
        self.rate_limit_rate = rate_limit_rate
        self.retry_after = retry_after
        self.server_error_rate = server_error_rate
        self.server_error_statuses = server_error_statuses
        self.drop_rate = drop_rate
        self.html_error_rate = html_error_rate
        self.include_oauth = include_oauth
        self.strict = strict
        self._rng = seeded_random(seed)
        self._rules: list[InjectedFault] = []
        self._injected: list[InjectedFault] = []
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------------

    def reseed(self, seed: int) -> None:
        """Restart the random fault sequence."""
        self._rng = seeded_random(seed)

    def inject(
        self,
        match: str = "*",
        status: int = 503,
        *,
        times: int | None = 1,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        drop: bool = False,
        delay_ms: float = 0.0,
        after: bool = False,
    ) -> InjectedFault:
        """Answer the next ``times`` matching requests with ``status`` (``None``: forever).

        ``match`` is ``"METHOD"``, a path glob relative to ``/v1`` (``"/bunits/*/consumers"``,
        matched against the request path and against the route template such as
        ``"/bunits/{id}/consumers"``), or both (``"GET /bunits/*/consumers"``).  ``body``
        may be a JSON-able object, ``str`` (HTML if it starts with ``<``) or ``bytes``;
        ``None`` gives the portal's usual error body (and ``Retry-After`` for 429).
        ``drop=True`` drops the connection instead.  ``after=True`` lets the real handler
        run first (state changes happen) and then replaces its answer: a lost response.
        Rules are tried in the order they were added.
        """
        rule = InjectedFault(
            match,
            status,
            times=times,
            body=body,
            headers=headers,
            drop=drop,
            delay_ms=delay_ms,
            after=after,
        )
        with self._lock:
            self._rules.append(rule)
            self._injected.append(rule)
        return rule

    def next_responses(self, *statuses: int, match: str = "*") -> list[InjectedFault]:
        """Queue one answer per status, used in order by the next matching requests."""
        return [self.inject(match, status, times=1) for status in statuses]

    def drop_next(self, match: str = "*", *, times: int = 1) -> InjectedFault:
        """Drop the connection of the next ``times`` matching requests."""
        return self.inject(match, 0, times=times, drop=True)

    @property
    def pending(self) -> list[InjectedFault]:
        """Injected rules that still have answers left."""
        with self._lock:
            return [r for r in self._rules if not r.exhausted]

    @property
    def unfired(self) -> list[InjectedFault]:
        """Injected rules with answers never used: a rule given ``times=N`` that answered
        fewer than N requests, or a ``times=None`` rule that answered none."""
        with self._lock:
            return [
                rule
                for rule in self._injected
                if (rule.remaining is not None and rule.remaining > 0)
                or (rule.remaining is None and rule.hits == 0)
            ]

    def assert_all_fired(self) -> None:
        """Raise ``AssertionError`` naming every injected answer that was never used."""
        unfired = self.unfired
        if unfired:
            listed = "; ".join(repr(rule) for rule in unfired)
            raise AssertionError(f"{len(unfired)} injected fault(s) never fired: {listed}")

    def clear(self) -> None:
        """Remove injected rules and switch every random fault and the latency off."""
        with self._lock:
            self._rules.clear()
            self._injected.clear()
        self.latency_ms = 0.0
        self.latency_jitter_ms = 0.0
        self.rate_limit_rate = 0.0
        self.server_error_rate = 0.0
        self.drop_rate = 0.0
        self.html_error_rate = 0.0

    # -- used by the app -----------------------------------------------------------

    @property
    def active(self) -> bool:
        """Is any fault configured at all (the app's fast path skips everything if not)?"""
        return bool(
            self._rules
            or self.latency_ms
            or self.latency_jitter_ms
            or self.rate_limit_rate
            or self.server_error_rate
            or self.drop_rate
            or self.html_error_rate
        )

    def retry_after_header(self) -> str:
        """The ``Retry-After`` value as sent."""
        return _format_seconds(self.retry_after)

    def delay_seconds(self) -> float:
        """Latency for one request."""
        delay = float(self.latency_ms)
        if self.latency_jitter_ms:
            delay += self._rng.uniform(0.0, float(self.latency_jitter_ms))
        return delay / 1000.0

    def take_rule(
        self, method: str, path: str, template: str, *, is_oauth: bool
    ) -> InjectedFault | None:
        """Consume one hit of the first matching injected rule."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(method, path, template):
                    continue
                if is_oauth and not self.include_oauth and "oauth" not in rule.match.lower():
                    continue
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                self._rules = [r for r in self._rules if not r.exhausted]
                return rule
        return None

    def random_fault(self) -> FaultResponse | None:
        """Draw the random faults, in a fixed order: drop, 429, 5xx, HTML."""
        rng = self._rng
        if self.drop_rate and rng.random() < self.drop_rate:
            return FaultResponse("drop", drop=True)
        if self.rate_limit_rate and rng.random() < self.rate_limit_rate:
            seconds = self.retry_after_header()
            body = _error_json(429, f"Too many requests. Retry after {seconds} seconds.")
            return FaultResponse(
                "rate_limit",
                429,
                body,
                [(b"content-type", _JSON), (b"retry-after", seconds.encode())],
            )
        if self.server_error_rate and rng.random() < self.server_error_rate:
            status = rng.choice(self.server_error_statuses)
            if rng.random() < 0.5:
                body = _error_json(status, "The service is temporarily unavailable.")
                return FaultResponse("server_error", status, body, [(b"content-type", _JSON)])
            page = _gateway_page(status).encode()
            return FaultResponse("server_error", status, page, [(b"content-type", _HTML)])
        if self.html_error_rate and rng.random() < self.html_error_rate:
            if rng.random() < 0.5:
                return FaultResponse(
                    "html_error", 200, _LOGIN_PAGE.encode(), [(b"content-type", _HTML)]
                )
            return FaultResponse("html_error", 500, _IIS_500.encode(), [(b"content-type", _HTML)])
        return None

    def __repr__(self) -> str:
        return (
            f"Faults(latency_ms={self.latency_ms}, latency_jitter_ms={self.latency_jitter_ms}, "
            f"rate_limit_rate={self.rate_limit_rate}, retry_after={self.retry_after}, "
            f"server_error_rate={self.server_error_rate}, drop_rate={self.drop_rate}, "
            f"html_error_rate={self.html_error_rate}, include_oauth={self.include_oauth}, "
            f"strict={self.strict}, pending={len(self._rules)})"
        )
