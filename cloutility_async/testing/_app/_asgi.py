"""The ASGI entry: match the route, count it, apply faults, check the token, answer.

The per-request path is kept cheap: a segment trie (``_router``), headers read in one
pass, synchronous handlers (``_handlers``), and ``json`` with compact separators.
Handlers raise :class:`ApiError` for error answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from .._auth import AuthState, Token
from .._drift import Drift
from .._errors import ApiError
from .._faults import FaultResponse, Faults, InjectedFault, SimulatedDisconnect
from .._stats import SimulatorStats
from .._world import World
from ._admin import ADMIN_PREFIX, admin_response
from ._context import Ctx
from ._handlers import ROUTES
from ._handlers._catalogs import FULL_VERSION
from ._responses import CT_JSON, DENIED, Response, error_response, ok
from ._router import Handler, Route, Router

__all__ = ["FULL_VERSION", "SimulatorApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_BODY_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_UNAUTHORIZED = Response(401, DENIED, CT_JSON, [(b"www-authenticate", b"Bearer")])


class _Headers:
    """The request headers the simulator reads, found in one pass."""

    __slots__ = ("accept", "authorization", "content_type", "host", "origin")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.authorization: bytes | None = None
        self.origin: bytes | None = None
        self.host = b""
        self.accept = b""
        self.content_type = b""
        for name, value in headers:
            if name == b"authorization":
                self.authorization = value
            elif name == b"origin":
                self.origin = value
            elif name == b"host":
                self.host = value
            elif name == b"accept":
                self.accept = value
            elif name == b"content-type":
                self.content_type = value


class SimulatorApp:
    """The ASGI callable (``Simulator.app``)."""

    def __init__(
        self,
        world: World,
        auth: AuthState,
        faults: Faults,
        stats: SimulatorStats,
        drift: Drift | None = None,
    ) -> None:
        self.world = world
        self.auth = auth
        self.faults = faults
        self.stats = stats
        self.drift = drift if drift is not None else Drift(enabled=False)
        self.router = Router()
        for method, template, handler in ROUTES:
            self.router.add(method, template, handler)
        self._bases: dict[tuple[str, bytes], str] = {}
        self._oauth_route = self.router.routes["/oauth"]

    # -- ASGI entry point -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(receive, send)
            return
        stats = self.stats
        stats.in_flight += 1
        if stats.in_flight > stats.peak_in_flight:
            stats.peak_in_flight = stats.in_flight
        try:
            await self._handle(scope, receive, send)
        finally:
            stats.in_flight -= 1

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            resp = admin_response(method, path, self.stats, self.faults, self.drift)
            await self._send_raw(send, resp.status, resp.body, _headers_of(resp))
            return
        route, params = self._match(path)
        handler = self._count(method, route)
        after_rule: InjectedFault | None = None
        if self.faults.active:
            fault, after_rule = await self._apply_faults(method, path, route)
            if fault is not None:
                self.stats.faults_injected[fault.kind] += 1
                await self._send_fault(scope, receive, send, fault)
                return
        headers = _Headers(scope["headers"])
        if route is None:
            message = f"No HTTP resource was found that matches the request URI '{path}'."
            resp = error_response(ApiError(404, message))
        elif handler is None:
            message = f"The requested resource does not support http method '{method}'."
            resp = error_response(ApiError(405, message))
            resp.headers = [(b"allow", route.allow)]
        else:
            token: Token | None = None
            if route is not self._oauth_route:
                checked = self.auth.check(headers.authorization, headers.origin)
                if isinstance(checked, str):
                    self.stats.rejections[checked] += 1
                    await self._send_response(send, _UNAUTHORIZED)
                    return
                token = checked
            ctx = await self._context(scope, receive, method, path, params, token, headers)
            resp = _call(handler, ctx)
            if self.drift.enabled and resp.payload is not None and method == "GET":
                resp = self._drifted(route, ctx, resp)
        if after_rule is not None:
            self.stats.faults_injected["injected"] += 1
            fault = after_rule.response(self.faults.retry_after_header())
            await self._send_fault(scope, receive, send, fault)
            return
        await self._send_response(send, resp)

    def _drifted(self, route: Route, ctx: Ctx, resp: Response) -> Response:
        """The answer as drift mode sends it (successful JSON answers to GETs only)."""
        if resp.status != 200:
            return resp
        target = ctx.path
        if ctx.query_string:
            target += "?" + ctx.query_string.decode("latin-1")
        return ok(self.drift.apply("GET", route.template, target, resp.payload))

    def _match(self, path: str) -> tuple[Route | None, list[str]]:
        if not path.startswith("/v1/"):
            return None, []
        segments = path[4:].split("/")
        if segments and segments[-1] == "" and len(segments) > 1:
            segments.pop()
        return self.router.match(segments)

    def _count(self, method: str, route: Route | None) -> Handler | None:
        """Count the request by route template; the handler for its method, if any."""
        stats = self.stats
        stats.requests_total += 1
        if route is None:
            stats.requests[method + " <unknown>"] += 1
            return None
        stats.requests[route.keys.get(method) or f"{method} {route.template}"] += 1
        return route.methods.get(method)

    async def _context(
        self,
        scope: Scope,
        receive: Receive,
        method: str,
        path: str,
        params: list[str],
        token: Token | None,
        headers: _Headers,
    ) -> Ctx:
        body = await self._read_body(receive) if method in _BODY_METHODS else b""
        return Ctx(
            self.world,
            self.auth,
            self.stats,
            method,
            path[3:],
            scope.get("query_string", b""),
            params,
            self._base(scope, headers.host),
            token,
            headers.accept,
            headers.content_type,
            headers.origin,
            body,
        )

    async def _apply_faults(
        self, method: str, path: str, route: Route | None
    ) -> tuple[FaultResponse | None, InjectedFault | None]:
        faults = self.faults
        is_oauth = route is self._oauth_route
        template = route.template if route is not None else "<unknown>"
        rule = faults.take_rule(
            method, path[3:] if path.startswith("/v1/") else path, template, is_oauth=is_oauth
        )
        applies = not is_oauth or faults.include_oauth
        delay = faults.delay_seconds() if applies else 0.0
        if rule is not None and rule.delay_ms:
            delay += rule.delay_ms / 1000.0
        if delay > 0:
            self.stats.faults_injected["latency"] += 1
            await anyio.sleep(delay)
        if rule is not None:
            if rule.after:
                return None, rule
            return rule.response(faults.retry_after_header()), None
        if applies:
            return faults.random_fault(), None
        return None, None

    async def _send_fault(
        self, scope: Scope, receive: Receive, send: Send, fault: FaultResponse
    ) -> None:
        if fault.drop:
            await self._drop(scope, receive)
            return
        self.stats.statuses[fault.status] += 1
        await self._send_raw(send, fault.status, fault.body, fault.headers)

    async def _drop(self, scope: Scope, receive: Receive) -> None:
        extensions = scope.get("extensions") or {}
        abort = extensions.get("cloutility.abort")
        if abort is None:
            raise SimulatedDisconnect()
        abort()
        # Wait until the server has noticed, so it does not try to answer.
        with anyio.move_on_after(2):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return

    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _base(self, scope: Scope, host: bytes) -> str:
        scheme: str = scope.get("scheme", "http")
        cached = self._bases.get((scheme, host))
        if cached is not None:
            return cached
        if host:
            authority = host.decode("latin-1")
        else:
            server = scope.get("server") or ("127.0.0.1", 80)
            authority = f"{server[0]}:{server[1]}"
        base = f"{scheme}://{authority}/v1/"
        if len(self._bases) < 64:
            self._bases[(scheme, host)] = base
        return base

    async def _send_response(self, send: Send, resp: Response) -> None:
        self.stats.statuses[resp.status] += 1
        await self._send_raw(send, resp.status, resp.body, _headers_of(resp))

    @staticmethod
    async def _send_raw(
        send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        if status == 204 or status == 304:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _headers_of(resp: Response) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    if resp.content_type is not None:
        headers.append((b"content-type", resp.content_type))
    if resp.headers:
        headers.extend(resp.headers)
    return headers


def _call(handler: Handler, ctx: Ctx) -> Response:
    try:
        return handler(ctx)
    except ApiError as exc:
        return error_response(exc)
