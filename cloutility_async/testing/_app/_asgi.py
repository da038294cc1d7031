"""The simulator's ASGI application: a thin hand-written router over :class:`World`.

The per-request path is kept cheap: a segment trie (literal segments first, matched
case-insensitively like ASP.NET), headers read in one pass, synchronous handlers, and
``json`` with compact separators.  Handlers raise :class:`ApiError` for error answers.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

import anyio

from .._auth import AuthState, GrantError, Token
from .._faults import FaultResponse, Faults, InjectedFault, SimulatedDisconnect
from .._formats import (
    TIME_ZONES,
    UTC,
    fmt_ms,
    fmt_s,
    parse_bool,
    parse_date,
    parse_iso,
    utc_offset_minutes,
)
from .._stats import SimulatorStats
from .._world._generation import (
    AUDIT_TYPES,
    BACKUP_SERVER,
    CLIENT_OPTION_SETS,
    CURRENCY,
    DATA_SOURCE_TYPE,
    DOMAINS,
    NODE_OPERATING_SYSTEMS,
    NODE_TYPES,
    NODE_WARNING_TYPES,
    STATE_BY_KIND,
    ApiError,
    BusinessUnit,
    Consumer,
    InvoiceFile,
    Job,
    Report,
    User,
    World,
    _catalog_partial,
)

__all__ = ["FULL_VERSION", "SimulatorApp"]

JSON = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FULL_VERSION = "1.0.4480.0"

_CT_JSON = b"application/json; charset=utf-8"
_CT_CSV = b"text/csv; charset=utf-8"
_DENIED = b'{"message":"Authorization has been denied for this request."}'
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_BODY_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_HYPER = "CloudPortal.Web.Api.Hyper."
_ASSEMBLY = ", CloudPortal.Web.Api"


def _type_name(name: str) -> str:
    return f"{_HYPER}{name}{_ASSEMBLY}"


def _collection_type(name: str) -> str:
    return f"{_HYPER}Collection`1[[{_HYPER}{name}{_ASSEMBLY}]]{_ASSEMBLY}"


_BU_TYPE = _type_name("BusinessUnit")
_TZ_TYPE = _type_name("TimeZone")
_USERS_TYPE = _collection_type("User")
_ADDRESSES_TYPE = _collection_type("Address")
_BUNITS_TYPE = _collection_type("BusinessUnit")


class Response:
    """An answer: status, body bytes, content type and extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes | None = _CT_JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


def ok(obj: Any, status: int = 200) -> Response:
    return Response(status, _dumps(obj).encode())


NO_CONTENT = Response(204, b"", None)


def error_response(exc: ApiError) -> Response:
    body = {
        "status": exc.status,
        "code": exc.code,
        "message": exc.message,
        "developerMessage": exc.developer,
    }
    return Response(exc.status, _dumps(body).encode())


# -- routing ---------------------------------------------------------------------------

Handler = Callable[["Ctx"], Response]


class Route:
    """A matched route template and its handlers by method."""

    __slots__ = ("allow", "keys", "methods", "template")

    def __init__(self, template: str) -> None:
        self.template = template
        self.methods: dict[str, Handler] = {}
        self.keys: dict[str, str] = {}
        self.allow = b""


class _Node:
    __slots__ = ("literal", "param", "route")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.route: Route | None = None


class Router:
    """A segment trie; literal segments win over ``{param}`` segments."""

    def __init__(self) -> None:
        self._root = _Node()
        self.routes: dict[str, Route] = {}

    def add(self, method: str, template: str, handler: Handler) -> Route:
        node = self._root
        for seg in template.strip("/").split("/"):
            if seg.startswith("{"):
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.literal.setdefault(seg.lower(), _Node())
        if node.route is None:
            node.route = Route("/" + template.strip("/"))
            self.routes[node.route.template] = node.route
        route = node.route
        route.methods[method] = handler
        route.keys[method] = f"{method} {route.template}"
        route.allow = ", ".join(sorted(route.methods)).encode()
        return route

    def match(self, segments: list[str]) -> tuple[Route | None, list[str]]:
        params: list[str] = []
        route = self._walk(self._root, segments, 0, params)
        return route, params

    def _walk(self, node: _Node, segs: list[str], i: int, params: list[str]) -> Route | None:
        if i == len(segs):
            return node.route
        seg = segs[i]
        child = node.literal.get(seg.lower())
        if child is not None:
            found = self._walk(child, segs, i + 1, params)
            if found is not None:
                return found
        if node.param is not None and seg:
            params.append(seg)
            found = self._walk(node.param, segs, i + 1, params)
            if found is not None:
                return found
            params.pop()
        return None


# -- per-request context -------------------------------------------------------------------


class Ctx:
    """One request as the handlers see it."""

    __slots__ = (
        "_query",
        "accept",
        "app",
        "base",
        "body",
        "content_type",
        "method",
        "origin",
        "params",
        "path",
        "query_string",
        "token",
        "world",
    )

    def __init__(
        self,
        app: SimulatorApp,
        method: str,
        path: str,
        query_string: bytes,
        params: list[str],
        base: str,
        token: Token | None,
        accept: bytes,
        content_type: bytes,
        origin: bytes | None,
        body: bytes,
    ) -> None:
        self.app = app
        self.world = app.world
        self.method = method
        self.path = path
        self.query_string = query_string
        self.params = params
        self.base = base
        self.token = token
        self.accept = accept
        self.content_type = content_type
        self.origin = origin
        self.body = body
        self._query: dict[str, list[str]] | None = None

    # query ------------------------------------------------------------------------------

    def query(self) -> dict[str, list[str]]:
        """Query parameters with lower-cased names (ASP.NET binds them case-insensitively)."""
        if self._query is None:
            parsed = parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)
            out: dict[str, list[str]] = {}
            for k, v in parsed.items():
                out.setdefault(k.lower(), []).extend(v)
            self._query = out
        return self._query

    def q(self, name: str) -> str | None:
        if not self.query_string:
            return None
        values = self.query().get(name.lower())
        return values[0] if values else None

    def q_bool(self, name: str, default: bool = False) -> bool:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            return parse_bool(raw)
        except ValueError:
            raise ApiError(400, f"The value '{raw}' is not valid for {name}.") from None

    def q_int(self, name: str, default: int | None = None, *, minimum: int = 0) -> int | None:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"The value '{raw}' is not valid for {name}.") from None
        if value < minimum:
            raise ApiError(400, f"{name} must be at least {minimum}.")
        return value

    def q_time(self, name: str) -> datetime | None:
        raw = self.q(name)
        if raw is None or raw == "":
            return None
        try:
            return parse_iso(raw)
        except ValueError:
            raise ApiError(
                400,
                f"The value '{raw}' is not valid for {name}.",
                developer=f"{name} must be an ISO 8601 date, e.g. 2023-11-03T08:00:00Z.",
            ) from None

    @property
    def url(self) -> str:
        """The request URL as the client sent it (absolute)."""
        url = self.base + self.path.lstrip("/")
        if self.query_string:
            url += "?" + self.query_string.decode("latin-1")
        return url

    def wants_csv(self) -> bool:
        return b"text/csv" in self.accept

    # params -----------------------------------------------------------------------------

    def int_param(self, index: int) -> int:
        raw = self.params[index]
        if not raw.isdigit() or len(raw) > 12:
            raise ApiError(
                400,
                f"The request is invalid: '{raw}' is not a valid id.",
                developer=f"Route parameter '{raw}' must be a positive integer.",
            )
        return int(raw)

    @property
    def root_id(self) -> int:
        assert self.token is not None
        bound = self.token.client.bunit_id
        return bound if bound is not None else self.world.root_id

    def bunit(self, index: int = 0) -> BusinessUnit:
        bid = self.int_param(index)
        bu = self.world.bunits.get(bid)
        if bu is None:
            raise ApiError(404, f"Business unit {bid} was not found.")
        if not self.world.is_within(bid, self.root_id):
            raise ApiError(
                403,
                f"You do not have access to business unit {bid}.",
                developer="The business unit is outside the client ID's tree.",
            )
        return bu

    def consumer(self, bu: BusinessUnit, index: int = 1) -> Consumer:
        cid = self.int_param(index)
        c = self.world.consumers.get(cid)
        if c is None or c.bu_id != bu.id:
            raise ApiError(404, f"Consumption unit {cid} was not found in business unit {bu.id}.")
        return self.world.details(c)

    def bu_and_consumer(self) -> tuple[BusinessUnit, Consumer]:
        bu = self.bunit(0)
        return bu, self.consumer(bu, 1)

    def json_body(self) -> dict[str, Any]:
        if not self.body.strip():
            raise ApiError(400, "The request body is required.")
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "The request body is not valid JSON.", developer=str(exc)) from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data

    def optional_json_body(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        return self.json_body()


# -- rendering --------------------------------------------------------------------------------


def _stub(base: str, path: str, type_name: str) -> dict[str, Any]:
    return {"$type": type_name, "href": base + path, "total": 0, "items": []}


def render_timezone(base: str, tz_id: int, *, embedded: bool = True) -> JSON:
    name, windows_id, _base, _rule = TIME_ZONES[tz_id]
    out: JSON = {}
    if embedded:
        out["$type"] = _TZ_TYPE
    out["href"] = f"{base}timezones/{tz_id}"
    out["actions"] = [
        {
            "name": "Calculate UTC offset",
            "method": "GET",
            "href": f"{base}timezones/{tz_id}/offset?date",
        }
    ]
    out["name"] = name
    out["windowsId"] = windows_id
    out["offset"] = 0
    out["id"] = tz_id
    out["createdDate"] = "2022-06-10T06:33:19.337Z"
    return out


def render_bu_full(world: World, base: str, bu: BusinessUnit) -> JSON:
    out: JSON = {"href": f"{base}bunits/{bu.id}"}
    if bu.parent_id is not None:
        out["parentBusinessUnit"] = dict(world.bunits[bu.parent_id].raw)
    out["timeZone"] = render_timezone(base, bu.timezone_id)
    out["users"] = _stub(base, f"bunits/{bu.id}/users", _USERS_TYPE)
    out["addresses"] = _stub(base, f"bunits/{bu.id}/addresses", _ADDRESSES_TYPE)
    out["businessUnits"] = _stub(base, f"bunits/{bu.id}/bunits", _BUNITS_TYPE)
    out.update(bu.raw)
    return out


def render_bu_partial(base: str, bu: BusinessUnit) -> JSON:
    out: JSON = {
        "$type": _BU_TYPE,
        "href": f"{base}bunits/{bu.id}",
        "ancestors": {"href": f"{base}bunits/{bu.id}/ancestors", "total": 0, "items": []},
        "users": _stub(base, f"bunits/{bu.id}/users", _USERS_TYPE),
        "addresses": _stub(base, f"bunits/{bu.id}/addresses", _ADDRESSES_TYPE),
        "businessUnits": _stub(base, f"bunits/{bu.id}/bunits", _BUNITS_TYPE),
    }
    out.update(bu.raw)
    return out


def render_bu_thin(base: str, bu: BusinessUnit) -> JSON:
    raw = bu.raw
    out: JSON = {"href": f"{base}bunits/{bu.id}", "name": raw.get("name", "")}
    if "registrationNumber" in raw:
        out["registrationNumber"] = raw["registrationNumber"]
    out["tags"] = raw.get("tags", [])
    out["id"] = bu.id
    out["createdDate"] = raw.get("createdDate")
    return out


def render_bu_tiny(base: str, bu: BusinessUnit) -> JSON:
    return {"$type": _BU_TYPE, "href": f"{base}bunits/{bu.id}", "name": bu.name, "id": bu.id}


def render_simple_tree(world: World, bu: BusinessUnit, *, top: bool) -> JSON:
    out: JSON = {"id": bu.id}
    if not top and bu.parent_id is not None:
        out["parentId"] = bu.parent_id
    out["name"] = bu.name
    out["groupName"] = "Safespring"
    out["reportRemotely"] = bu.raw.get("reportRemotely", False)
    out["businessUnits"] = [
        render_simple_tree(world, world.bunits[child], top=False) for child in bu.children
    ]
    out["tags"] = bu.raw.get("tags", [])
    out["invoiceDay"] = bu.raw.get("invoiceDay", 0)
    return out


def consumer_href(base: str, c: Consumer) -> str:
    return f"{base}bunits/{c.bu_id}/consumers/{c.id}"


def render_consumer_full(world: World, base: str, c: Consumer) -> JSON:
    out: JSON = {"href": consumer_href(base, c)}
    partial = render_bu_partial(base, world.bunits[c.bu_id])
    placed = False
    for k, v in c.raw.items():
        out[k] = v
        if k == "billingStartDate":
            out["businessUnit"] = partial
            placed = True
    if not placed:
        out["businessUnit"] = partial
    return out


def render_consumer_thin(base: str, c: Consumer) -> JSON:
    if not c.built:
        # Listing needs no generated details: derive the few fields from the identity.
        return {
            "href": consumer_href(base, c),
            "dataSourceType": DATA_SOURCE_TYPE,
            "dataSourceState": STATE_BY_KIND[c.kind],
            "name": c.name,
            "id": c.id,
            "createdDate": fmt_ms(c.created),
        }
    raw = c.raw
    return {
        "href": consumer_href(base, c),
        "dataSourceType": raw.get("dataSourceType"),
        "dataSourceState": raw.get("dataSourceState"),
        "name": c.name,
        "id": c.id,
        "createdDate": raw.get("createdDate"),
    }


def _node_stub(world: World, base: str, cid: int) -> JSON:
    other = world.consumers[cid]
    node = other.node or {}
    out: JSON = {"href": consumer_href(base, other) + "/node", "name": other.name}
    if "tsmName" in node:
        out["tsmName"] = node["tsmName"]
    out["id"] = node.get("id", 0)
    return out


def render_node(world: World, base: str, c: Consumer) -> JSON:
    node = c.node
    assert node is not None
    href = consumer_href(base, c)
    out: JSON = {"href": href + "/node"}
    for k, v in node.items():
        if k == "operatingSystem" and isinstance(v, dict) and "id" in v:
            v = {"href": f"{base}nodeoperatingsystems/{v['id']}", **v}
        elif k == "type" and isinstance(v, dict) and "id" in v:
            v = {"href": f"{base}nodetypes/{v['id']}", **v}
        elif k == "proxyAgents":
            v = [_node_stub(world, base, a) for a, t in sorted(world.proxies) if t == c.id]
        elif k == "proxyTargets":
            v = [_node_stub(world, base, t) for a, t in sorted(world.proxies) if a == c.id]
        out[k] = v
    if "proxyAgents" not in out:
        out["proxyAgents"] = [
            _node_stub(world, base, a) for a, t in sorted(world.proxies) if t == c.id
        ]
        out["proxyTargets"] = [
            _node_stub(world, base, t) for a, t in sorted(world.proxies) if a == c.id
        ]
    out["consumer"] = {"href": href, "name": c.name, "id": c.id}
    return out


def render_node_thin(base: str, c: Consumer) -> JSON:
    node = c.node or {}
    out: JSON = {"href": consumer_href(base, c) + "/node", "name": c.name}
    if "tsmName" in node:
        out["tsmName"] = node["tsmName"]
    out["dataSourceState"] = node.get("dataSourceState")
    out["id"] = node.get("id")
    return out


def render_job(base: str, c: Consumer, job: Job) -> JSON:
    return {"href": f"{consumer_href(base, c)}/jobs/{job.id}", "businessUnitId": c.bu_id, **job.raw}


def render_first_job(base: str, c: Consumer, job: Job) -> JSON:
    # The reference warns that everything but `completed` is bogus here.
    return {
        "href": f"{consumer_href(base, c)}/jobs/first",
        "businessUnitId": 0,
        "consumerId": 0,
        "dataSourceId": 0,
        "serverId": 0,
        "tags": [],
        "severity": 0,
        "scheduled": False,
        "completed": job.raw["completed"],
        "examinedFiles": 0,
        "affectedFiles": 0,
        "failedFiles": 0,
        "result": 0,
        "transferredMegaBytes": 0.0,
        "transferredGigaBytes": 0.0,
        "name": "",
        "duration": "00:00:00",
        "transferredMegaBytesPerSecond": 0.0,
        "id": 0,
        "createdDate": "0001-01-01T00:00:00Z",
    }


def render_report(
    world: World, base: str, c: Consumer, report: Report, *, status: bool, warnings: bool
) -> JSON:
    out = dict(report.raw)
    if status:
        out["status"] = report.status
    out["businessUnitId"] = c.bu_id
    out["businessUnitName"] = world.bunits[c.bu_id].name
    if warnings:
        out["warnings"] = report.warnings
    out["href"] = f"{consumer_href(base, c)}/reports/{report.id}"
    return out


def render_user(world: World, base: str, user: User, *, full: bool) -> JSON:
    href = f"{base}bunits/{user.bu_id}/users/{user.id}"
    raw = user.raw
    if not full:
        return {
            "href": href,
            "name": raw["name"],
            "email": raw.get("email"),
            "displayName": raw.get("displayName"),
            "id": user.id,
            "createdDate": raw.get("createdDate"),
        }
    out: JSON = {"href": href}
    out.update(raw)
    out["businessUnit"] = render_bu_partial(base, world.bunits[user.bu_id])
    return out


def render_invoice_file(base: str, f: InvoiceFile) -> JSON:
    out: JSON = {
        "href": f"{base}bunits/{f.bu_id}/invoicefiles/{f.id}",
        "id": f.id,
        "createdDate": fmt_ms(f.created),
        "fileName": f.file_name,
        "contentType": f.content_type,
        "size": len(f.data),
    }
    if f.erp_reference is not None:
        out["erpReference"] = f.erp_reference
    out["sendToBillingAddress"] = f.send_to_billing_address
    return out


def listing(
    href: str,
    items: list[Any],
    *,
    offset: int = 0,
    total: int | None = None,
    first: str | None = None,
) -> JSON:
    return {
        "href": href,
        "total": len(items) if total is None else total,
        "offset": offset,
        "first": first or href,
        "items": items,
    }


# -- multipart ----------------------------------------------------------------------------------

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
# One ``; name=value`` parameter: a quoted string (``\\`` escapes, ``;`` allowed) or a token.
_DISP_PARAM_RE = re.compile(
    r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))', re.DOTALL
)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
# Browsers (and the SDK) percent-encode only these three in a form-data file name.
_FORM_ESCAPE_RE = re.compile(r"%(22|0D|0A)", re.IGNORECASE)
_EXT_VALUE_RE = re.compile(r"([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)", re.DOTALL)


def disposition_params(disposition: str) -> dict[str, str]:
    """The parameters of a Content-Disposition value, names lower-cased, quotes removed."""
    params: dict[str, str] = {}
    for name, quoted, token in _DISP_PARAM_RE.findall(disposition):
        value = _QUOTED_PAIR_RE.sub(r"\1", quoted) if quoted else token.strip()
        params.setdefault(name.lower(), value)
    return params


def disposition_filename(params: dict[str, str]) -> str | None:
    """The file name: RFC 5987 ``filename*`` if it decodes, else ``filename`` (``%22`` etc.)."""
    extended = params.get("filename*")
    if extended is not None:
        m = _EXT_VALUE_RE.fullmatch(extended)
        if m is not None:
            try:
                codecs.lookup(m.group(1))
                return unquote(m.group(2), encoding=m.group(1), errors="strict")
            except (LookupError, UnicodeDecodeError):
                pass
    filename = params.get("filename")
    if filename is None:
        return None
    return _FORM_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), filename)


def parse_multipart_file(body: bytes, content_type: str) -> tuple[str, str, bytes]:
    """The first file part of a multipart/form-data body: (file name, content type, bytes)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            415,
            "The request must be multipart/form-data with one file.",
            code="UnsupportedMediaType",
        )
    m = _BOUNDARY_RE.search(content_type)
    if m is None:
        raise ApiError(400, "The multipart boundary is missing.")
    delimiter = b"--" + m.group(1).encode("latin-1")
    for section in body.split(delimiter)[1:]:
        if section.startswith(b"--"):
            break
        if section.startswith(b"\r\n"):
            section = section[2:]
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        filename = disposition_filename(disposition_params(disposition))
        if filename is None:
            continue
        ctype = headers.get("content-type", "application/octet-stream")
        return filename or "upload.bin", ctype, data
    raise ApiError(400, "The request contains no file.")


# -- the app ----------------------------------------------------------------------------------


class SimulatorApp:
    """The ASGI callable (``Simulator.app``)."""

    def __init__(
        self, world: World, auth: AuthState, faults: Faults, stats: SimulatorStats
    ) -> None:
        self.world = world
        self.auth = auth
        self.faults = faults
        self.stats = stats
        self.router = Router()
        self._bases: dict[tuple[str, bytes], str] = {}
        self._register_routes()
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
        stats = self.stats
        method: str = scope["method"]
        path: str = scope["path"]
        route: Route | None = None
        params: list[str] = []
        if path.startswith("/v1/"):
            segments = path[4:].split("/")
            if segments and segments[-1] == "" and len(segments) > 1:
                segments.pop()
            route, params = self.router.match(segments)
        stats.requests_total += 1
        if route is None:
            key = method + " <unknown>"
            handler = None
        else:
            handler = route.methods.get(method)
            key = route.keys.get(method) or f"{method} {route.template}"
        stats.requests[key] += 1

        after_rule: InjectedFault | None = None
        faults = self.faults
        if faults.active:
            fault, after_rule = await self._apply_faults(method, path, route)
            if fault is not None:
                stats.faults_injected[fault.kind] += 1
                if fault.drop:
                    await self._drop(scope, receive)
                    return
                stats.statuses[fault.status] += 1
                await self._send_raw(send, fault.status, fault.body, fault.headers)
                return

        authorization: bytes | None = None
        origin: bytes | None = None
        host: bytes = b""
        accept: bytes = b""
        content_type: bytes = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"origin":
                origin = value
            elif name == b"host":
                host = value
            elif name == b"accept":
                accept = value
            elif name == b"content-type":
                content_type = value

        if route is None:
            resp = error_response(
                ApiError(404, f"No HTTP resource was found that matches the request URI '{path}'.")
            )
        elif handler is None:
            resp = error_response(
                ApiError(405, f"The requested resource does not support http method '{method}'.")
            )
            resp.headers = [(b"allow", route.allow)]
        else:
            token: Token | None = None
            if route is not self._oauth_route:
                checked = self.auth.check(authorization, origin)
                if isinstance(checked, str):
                    stats.rejections[checked] += 1
                    stats.statuses[401] += 1
                    await self._send_raw(
                        send,
                        401,
                        _DENIED,
                        [(b"content-type", _CT_JSON), (b"www-authenticate", b"Bearer")],
                    )
                    return
                token = checked
            body = b""
            if method in _BODY_METHODS:
                body = await self._read_body(receive)
            ctx = Ctx(
                self,
                method,
                path[3:],
                scope.get("query_string", b""),
                params,
                self._base(scope, host),
                token,
                accept,
                content_type,
                origin,
                body,
            )
            try:
                resp = handler(ctx)
            except ApiError as exc:
                resp = error_response(exc)

        if after_rule is not None:
            self.stats.faults_injected["injected"] += 1
            fault = after_rule.response(self.faults.retry_after_header())
            if fault.drop:
                await self._drop(scope, receive)
                return
            stats.statuses[fault.status] += 1
            await self._send_raw(send, fault.status, fault.body, fault.headers)
            return

        stats.statuses[resp.status] += 1
        headers: list[tuple[bytes, bytes]] = []
        if resp.content_type is not None:
            headers.append((b"content-type", resp.content_type))
        if resp.headers:
            headers.extend(resp.headers)
        await self._send_raw(send, resp.status, resp.body, headers)

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

    # -- routes --------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        r = self.router.add
        r("POST", "oauth", self.h_oauth)
        r("GET", "fullVersion", lambda ctx: ok(FULL_VERSION))
        r("GET", "me", self.h_me)
        r("GET", "bunits", self.h_bunit_tree)
        r("GET", "search/bunits", self.h_search_bunits)
        r("GET", "bunits/{id}", self.h_bunit_get)
        r("PUT", "bunits/{id}", self.h_bunit_put)
        r("DELETE", "bunits/{id}", self.h_bunit_delete)
        r("GET", "bunits/{id}/bunits", self.h_bunit_children)
        r("POST", "bunits/{id}/bunits", self.h_bunit_create)
        r("GET", "bunits/{id}/ancestors", self.h_bunit_ancestors)
        r("GET", "bunits/{id}/users", self.h_users)
        r("GET", "bunits/{id}/users/{id}", self.h_user)
        r("GET", "bunits/{id}/addresses", self.h_addresses)
        r("GET", "bunits/{id}/consumers", self.h_consumers)
        r("POST", "bunits/{id}/consumers", self.h_consumer_create)
        c = "bunits/{id}/consumers/{id}"
        r("GET", c, self.h_consumer_get)
        r("PUT", c, self.h_consumer_put)
        r("DELETE", c, self.h_consumer_delete)
        r("GET", c + "/auditlogs", self.h_auditlogs)
        r("GET", c + "/auditlogs/{id}", self.h_auditlog)
        r("GET", c + "/reports", self.h_reports)
        r("GET", c + "/reports/latest", self.h_report_latest)
        r("GET", c + "/reports/{id}", self.h_report)
        r("GET", c + "/jobs", self.h_jobs)
        r("GET", c + "/jobs/first", self.h_job_first)
        r("GET", c + "/jobs/{id}", self.h_job)
        n = c + "/node"
        r("GET", n, self.h_node_get)
        r("POST", n, self.h_node_create)
        r("PUT", n, self.h_node_put)
        r("DELETE", n, self.h_node_delete)
        r("POST", n + "/password", self.h_node_password)
        r("GET", n + "/activate", self.h_node_activate)
        r("GET", n + "/spname", self.h_node_spname)
        r("GET", n + "/filespaces", self.h_filespaces)
        r("GET", n + "/filespaces/{id}", self.h_filespace)
        r("GET", n + "/possibleproxynodes", self.h_possible_proxies)
        r("GET", n + "/proxyagents", self.h_proxy_agents)
        r("POST", n + "/proxyagents", self.h_proxy_agent_add)
        r("DELETE", n + "/proxyagents/{id}", self.h_proxy_agent_delete)
        r("GET", n + "/proxytargets", self.h_proxy_targets)
        r("POST", n + "/proxytargets", self.h_proxy_target_add)
        r("DELETE", n + "/proxytargets/{id}", self.h_proxy_target_delete)
        r("GET", "bunits/{id}/defaultserver", self.h_default_server)
        r("GET", "bunits/{id}/defaultserver/domains", self.h_domains)
        r("GET", "bunits/{id}/defaultserver/clientoptionsets", self.h_client_option_sets)
        r("GET", "bunits/{id}/contract", self.h_contract)
        r("GET", "bunits/{id}/invoices", self.h_invoices)
        r("GET", "bunits/{id}/invoices/{date}", self.h_invoice)
        r("GET", "bunits/{id}/invoicefiles", self.h_invoice_files)
        r("POST", "bunits/{id}/invoicefiles", self.h_invoice_file_upload)
        r("GET", "bunits/{id}/invoicefiles/{id}", self.h_invoice_file)
        r("GET", "bunits/{id}/billing", self.h_billing)
        r("GET", "bunits/{id}/billing/{date}", self.h_billing_one)
        r("GET", "nodeoperatingsystems", self.h_node_oses)
        r("GET", "nodeoperatingsystems/{id}", self.h_node_os)
        r("GET", "nodetypes", self.h_node_types)
        r("GET", "nodetypes/{id}", self.h_node_type)
        r("GET", "nodewarningtypes", self.h_warning_types)
        r("GET", "timezones", self.h_timezones)
        r("GET", "timezones/{id}", self.h_timezone)
        r("GET", "timezones/{id}/offset", self.h_timezone_offset)

    # -- OAuth --------------------------------------------------------------------------------

    def h_oauth(self, ctx: Ctx) -> Response:
        form = {
            k: v[0]
            for k, v in parse_qs(
                ctx.body.decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        origin = ctx.origin.decode("latin-1") if ctx.origin is not None else None
        grant_type = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        try:
            token = self._grant(grant_type, client_id, origin, form)
        except GrantError as exc:
            self.stats.rejections[exc.reason] += 1
            err = {"error": exc.error, "error_description": exc.description}
            return Response(400, _dumps(err).encode())
        self.stats.grants[grant_type] += 1
        body: JSON = {
            "access_token": token.value,
            "token_type": "bearer",
            "expires_in": int(self.auth.token_lifetime),
            "refresh_token": token.session.refresh_token,
        }
        return Response(
            200,
            _dumps(body).encode(),
            _CT_JSON,
            [(b"cache-control", b"no-cache"), (b"pragma", b"no-cache")],
        )

    def _grant(
        self, grant_type: str, client_id: str, origin: str | None, form: dict[str, str]
    ) -> Token:
        if grant_type == "password":
            return self.auth.password_grant(
                client_id, origin, form.get("username", ""), form.get("password", "")
            )
        if grant_type == "refresh_token":
            return self.auth.refresh_grant(client_id, origin, form.get("refresh_token", ""))
        raise GrantError(
            "unsupported_grant_type",
            f"The grant type '{grant_type}' is not supported.",
            "unsupported_grant_type",
        )

    # -- users & business units ------------------------------------------------------------------

    def h_me(self, ctx: Ctx) -> Response:
        user = self.world.users[self.world.demo_user_id]
        return ok(render_user(self.world, ctx.base, user, full=True))

    def h_bunit_tree(self, ctx: Ctx) -> Response:
        bid = ctx.q_int("bunitId")
        root = ctx.root_id
        if bid is not None:
            if bid not in self.world.bunits:
                raise ApiError(404, f"Business unit {bid} was not found.")
            if not self.world.is_within(bid, root):
                raise ApiError(403, f"You do not have access to business unit {bid}.")
            root = bid
        return ok(render_simple_tree(self.world, self.world.bunits[root], top=True))

    def h_search_bunits(self, ctx: Ctx) -> Response:
        term = (ctx.q("searchTerm") or "").strip().lower()
        world = self.world
        items = [
            render_bu_thin(ctx.base, world.bunits[bid])
            for bid in world.descendants(ctx.root_id)
            if term in world.bunits[bid].name.lower()
        ]
        return ok(listing(ctx.url, items))

    def h_bunit_get(self, ctx: Ctx) -> Response:
        return ok(render_bu_full(self.world, ctx.base, ctx.bunit()))

    def h_bunit_put(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        self.world.update_bunit(bu, ctx.json_body())
        return ok(render_bu_full(self.world, ctx.base, bu))

    def h_bunit_delete(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        if bu.id == ctx.root_id:
            raise ApiError(403, "You cannot delete your own business unit.")
        self.world.delete_bunit(bu)
        return NO_CONTENT

    def h_bunit_children(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        items = [render_bu_thin(ctx.base, self.world.bunits[b]) for b in bu.children]
        return ok(listing(ctx.url, items))

    def h_bunit_create(self, ctx: Ctx) -> Response:
        parent = ctx.bunit()
        bu = self.world.create_bunit(parent, ctx.json_body())
        self.stats.creates["bunit:" + bu.name] += 1
        return ok(render_bu_full(self.world, ctx.base, bu))

    def h_bunit_ancestors(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        root = ctx.root_id
        chain = [] if bu.id == root else self.world.ancestors(bu.id)
        items = []
        for bid in chain:
            items.append(render_bu_thin(ctx.base, self.world.bunits[bid]))
            if bid == root:
                break
        return ok(listing(ctx.url, items))

    def h_users(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        users = [self.world.users[u] for u in bu.user_ids]
        return ok(
            listing(ctx.url, [render_user(self.world, ctx.base, u, full=False) for u in users])
        )

    def h_user(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        uid = ctx.int_param(1)
        user = self.world.users.get(uid)
        if user is None or user.bu_id != bu.id:
            raise ApiError(404, f"User {uid} was not found.")
        return ok(render_user(self.world, ctx.base, user, full=True))

    def h_addresses(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        address = {
            "href": f"{ctx.base}bunits/{bu.id}/addresses/{bu.id * 10}",
            "name": bu.name,
            "street": "Sveavägen 1",
            "zipCode": "111 57",
            "city": "Stockholm",
            "contactPerson": "Accounts payable",
            "phone": "+46 8 123 456 00",
            "emails": [f"invoices+{bu.id}@example.com"],
            "type": {"id": 1, "name": "Billing", "createdDate": "2022-06-10T06:33:19.337Z"},
            "country": {
                "name": "Sweden",
                "code": "SE",
                "id": 1,
                "createdDate": "2022-06-10T06:33:19.337Z",
            },
            "id": bu.id * 10,
            "createdDate": bu.raw.get("createdDate"),
        }
        return ok(listing(ctx.url, [address]))

    # -- consumers ---------------------------------------------------------------------------------

    def h_consumers(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        world = self.world
        items = []
        for cid in bu.consumer_ids:
            items.append(render_consumer_thin(ctx.base, world.consumers[cid]))
        return ok(listing(ctx.url, items))

    def h_consumer_create(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        c = self.world.create_consumer(bu, ctx.json_body(), ctx.root_id)
        self.stats.creates[c.name] += 1
        return ok(render_consumer_full(self.world, ctx.base, c))

    def h_consumer_get(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        return ok(render_consumer_full(self.world, ctx.base, c))

    def h_consumer_put(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.update_consumer(c, ctx.json_body())
        return ok(render_consumer_full(self.world, ctx.base, c))

    def h_consumer_delete(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        ctx.q_bool("deleteAssociations")
        self.world.delete_consumer(c)
        return NO_CONTENT

    def _audit_item(self, ctx: Ctx, c: Consumer, e: Any) -> JSON:
        return {
            "href": f"{consumer_href(ctx.base, c)}/auditlogs/{e.id}",
            "id": e.id,
            "createdDate": e.created_str,
            "type": e.type,
            "typeName": AUDIT_TYPES[e.type],
            "message": e.message,
            "userName": e.user_name,
            "userId": e.user_id,
            "businessUnitId": c.bu_id,
            "consumerId": c.id,
        }

    def h_auditlogs(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        descendants = ctx.q_bool("includeDescendants")
        limit = ctx.q_int("limit", 100)
        offset = ctx.q_int("offset", 0)
        assert limit is not None
        assert offset is not None
        desc = ctx.q_bool("orderDesc")
        start = ctx.q_time("startTime") or ctx.q_time("startDate")
        end = ctx.q_time("endTime") or ctx.q_time("endDate")
        raw_types = ctx.query().get("types", []) if ctx.query_string else []
        types: set[int] = set()
        for raw in raw_types:
            for part in raw.split(","):
                if not part.strip():
                    continue
                try:
                    types.add(int(part))
                except ValueError:
                    raise ApiError(400, f"The value '{part}' is not valid for types.") from None
        matched = [
            e
            for e in c.audit
            if (descendants or not e.descendant)
            and (not types or e.type in types)
            and (start is None or e.created >= start)
            and (end is None or e.created <= end)
        ]
        if desc:
            matched.reverse()
        page = matched[offset : offset + limit]
        query = (
            [(k, v) for k, values in ctx.query().items() for v in values if k != "offset"]
            if ctx.query_string
            else []
        )
        first = f"{ctx.base}{ctx.path.lstrip('/')}?{urlencode([*query, ('offset', '0')])}"
        return ok(
            listing(
                ctx.url,
                [self._audit_item(ctx, c, e) for e in page],
                offset=offset,
                total=len(matched),
                first=first,
            )
        )

    def h_auditlog(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        eid = ctx.int_param(2)
        for e in c.audit:
            if e.id == eid:
                return ok(self._audit_item(ctx, c, e))
        raise ApiError(404, f"Audit log entry {eid} was not found.")

    # -- reports & jobs --------------------------------------------------------------------------

    def h_reports(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        start = ctx.q_time("startDate")
        end = ctx.q_time("endDate")
        status = ctx.q_bool("status")
        warnings = ctx.q_bool("warnings")
        items = [
            render_report(self.world, ctx.base, c, r, status=status, warnings=warnings)
            for r in c.reports
            if (start is None or r.report_date >= start) and (end is None or r.report_date <= end)
        ]
        return ok(listing(ctx.url, items))

    def h_report_latest(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        ctx.q_int("userId")
        if not c.reports:
            raise ApiError(404, "The consumption unit has no reports yet.")
        return ok(render_report(self.world, ctx.base, c, c.reports[-1], status=True, warnings=True))

    def h_report(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        rid = ctx.int_param(2)
        for r in c.reports:
            if r.id == rid:
                return ok(render_report(self.world, ctx.base, c, r, status=True, warnings=True))
        raise ApiError(404, f"Report {rid} was not found.")

    def _jobs_between(self, ctx: Ctx, c: Consumer) -> Response:
        start = ctx.q_time("startTime")
        end = ctx.q_time("endTime")
        if start is None:
            start = self.world.current_time() - timedelta(hours=24)
        elif c.jobs and start < c.jobs[0].completed:
            first = c.jobs[0].raw["completed"]
            raise ApiError(
                400,
                "startTime must be greater than or equal to the completion time of the first job.",
                code="InvalidStartTime",
                developer=f"startTime {fmt_ms(start)} is earlier than the first job's "
                f"completed {first}; get it from jobs/first.",
            )
        items = [
            render_job(ctx.base, c, j)
            for j in c.jobs
            if j.completed >= start and (end is None or j.completed <= end)
        ]
        return ok(listing(ctx.url, items))

    def h_jobs(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        return self._jobs_between(ctx, c)

    def h_job_first(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        if ctx.q("startTime") is not None or ctx.q("endTime") is not None:
            # The reference documents the interval query on this path (a typo).
            return self._jobs_between(ctx, c)
        if not c.jobs:
            raise ApiError(404, "The consumption unit has no jobs.")
        return ok(render_first_job(ctx.base, c, c.jobs[0]))

    def h_job(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        jid = ctx.int_param(2)
        for j in c.jobs:
            if j.id == jid:
                return ok(render_job(ctx.base, c, j))
        raise ApiError(404, f"Job {jid} was not found.")

    # -- nodes --------------------------------------------------------------------------------

    def h_node_get(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.require_node(c)
        return ok(render_node(self.world, ctx.base, c))

    def h_node_create(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.create_node(c, ctx.json_body())
        self.stats.creates["node:" + c.name] += 1
        return ok(render_node(self.world, ctx.base, c))

    def h_node_put(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.update_node(c, ctx.json_body())
        return ok(render_node(self.world, ctx.base, c))

    def h_node_delete(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.require_node(c)
        ctx.q_bool("deleteAssociations")
        rendered = render_node(self.world, ctx.base, c)
        self.world.delete_consumer(c)
        return ok(rendered)

    def h_node_password(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.set_node_password(c, ctx.json_body())
        return ok(render_node(self.world, ctx.base, c))

    def h_node_activate(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        return ok(self.world.activate_node(c, ctx.q("tsmName")))

    def h_node_spname(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        return ok(self.world.suggest_name(c))

    def h_filespaces(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.require_node(c)
        ctx.q_bool("tsmSync")
        href = consumer_href(ctx.base, c) + "/node/filespaces"
        items = [{"href": f"{href}/{fs['id']}", **fs} for fs in c.filespaces]
        return ok(listing(ctx.url, items))

    def h_filespace(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.require_node(c)
        fid = ctx.int_param(2)
        for fs in c.filespaces:
            if fs["id"] == fid:
                href = f"{consumer_href(ctx.base, c)}/node/filespaces/{fid}"
                return ok({"href": href, **fs})
        raise ApiError(404, f"Filespace {fid} was not found.")

    def h_possible_proxies(self, ctx: Ctx) -> Response:
        bu, c = ctx.bu_and_consumer()
        self.world.require_node(c)
        items = []
        for cid in bu.consumer_ids:
            other = self.world.details(self.world.consumers[cid])
            if other.id != c.id and other.activated:
                items.append(render_node_thin(ctx.base, other))
        return ok(listing(ctx.url, items))

    def _other_consumer(self, ctx: Ctx, cid: int | None, what: str) -> Consumer:
        if cid is None:
            raise ApiError(400, f"{what} is required.")
        other = self.world.consumers.get(cid)
        if other is None or not self.world.is_within(other.bu_id, ctx.root_id):
            raise ApiError(404, f"Consumption unit {cid} was not found.")
        return self.world.details(other)

    def h_proxy_agents(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.require_node(c)
        items = [
            _node_stub(self.world, ctx.base, a) for a, t in sorted(self.world.proxies) if t == c.id
        ]
        return ok(listing(ctx.url, items))

    def h_proxy_targets(self, ctx: Ctx) -> Response:
        _bu, c = ctx.bu_and_consumer()
        self.world.require_node(c)
        items = [
            _node_stub(self.world, ctx.base, t) for a, t in sorted(self.world.proxies) if a == c.id
        ]
        return ok(listing(ctx.url, items))

    def h_proxy_agent_add(self, ctx: Ctx) -> Response:
        _bu, target = ctx.bu_and_consumer()
        agent = self._other_consumer(ctx, ctx.q_int("proxyAgentId"), "proxyAgentId")
        self.world.add_proxy(agent, target)
        return ok(render_node(self.world, ctx.base, target))

    def h_proxy_target_add(self, ctx: Ctx) -> Response:
        _bu, agent = ctx.bu_and_consumer()
        target = self._other_consumer(ctx, ctx.q_int("proxyTargetId"), "proxyTargetId")
        self.world.add_proxy(agent, target)
        return ok(render_node(self.world, ctx.base, agent))

    def h_proxy_agent_delete(self, ctx: Ctx) -> Response:
        _bu, target = ctx.bu_and_consumer()
        self.world.remove_proxy(ctx.int_param(2), target.id)
        return NO_CONTENT

    def h_proxy_target_delete(self, ctx: Ctx) -> Response:
        _bu, agent = ctx.bu_and_consumer()
        self.world.remove_proxy(agent.id, ctx.int_param(2))
        return NO_CONTENT

    # -- backup server & catalogs ------------------------------------------------------------

    def _server(self, base: str, bu: BusinessUnit) -> JSON:
        return {
            "href": f"{base}bunits/{bu.id}/defaultserver",
            "id": BACKUP_SERVER[0],
            "name": BACKUP_SERVER[1],
        }

    def h_default_server(self, ctx: Ctx) -> Response:
        return ok(self._server(ctx.base, ctx.bunit()))

    def h_domains(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        server = self._server(ctx.base, bu)
        items = [{"server": server, **_catalog_partial("domain", d[0])} for d in DOMAINS]
        return ok(listing(ctx.url, items))

    def h_client_option_sets(self, ctx: Ctx) -> Response:
        ctx.bunit()
        items = [_catalog_partial("clientOptionSet", s[0]) for s in CLIENT_OPTION_SETS]
        return ok(listing(ctx.url, items))

    def _os(self, base: str, os_id: int, *, full: bool) -> JSON:
        out: JSON = {
            "href": f"{base}nodeoperatingsystems/{os_id}",
            **_catalog_partial("operatingSystem", os_id),
        }
        if full:
            supported = next(o[3] for o in NODE_OPERATING_SYSTEMS if o[0] == os_id)
            out["supportedNodeTypes"] = [self._node_type(base, t) for t in supported]
        return out

    def _node_type(self, base: str, type_id: int) -> JSON:
        out: JSON = {"href": f"{base}nodetypes/{type_id}", **_catalog_partial("type", type_id)}
        if type_id == 6:
            del out["shortName"]  # optional, and undefined for this one
        return out

    def h_node_oses(self, ctx: Ctx) -> Response:
        return ok(
            listing(ctx.url, [self._os(ctx.base, o[0], full=False) for o in NODE_OPERATING_SYSTEMS])
        )

    def h_node_os(self, ctx: Ctx) -> Response:
        os_id = ctx.int_param(0)
        if os_id not in {o[0] for o in NODE_OPERATING_SYSTEMS}:
            raise ApiError(404, f"Operating system {os_id} was not found.")
        return ok(self._os(ctx.base, os_id, full=True))

    def h_node_types(self, ctx: Ctx) -> Response:
        return ok(listing(ctx.url, [self._node_type(ctx.base, t[0]) for t in NODE_TYPES]))

    def h_node_type(self, ctx: Ctx) -> Response:
        type_id = ctx.int_param(0)
        if type_id not in {t[0] for t in NODE_TYPES}:
            raise ApiError(404, f"Node type {type_id} was not found.")
        return ok(self._node_type(ctx.base, type_id))

    def h_warning_types(self, ctx: Ctx) -> Response:
        items = []
        for wid, name, uses_limit in NODE_WARNING_TYPES:
            item: JSON = {}
            if name is not None:
                item["name"] = name
            item.update(
                {"usesLimit": uses_limit, "id": wid, "createdDate": "2022-06-10T06:33:19.337Z"}
            )
            items.append(item)
        return ok(listing(ctx.url, items))

    def h_timezones(self, ctx: Ctx) -> Response:
        return ok(
            listing(ctx.url, [render_timezone(ctx.base, tz, embedded=False) for tz in TIME_ZONES])
        )

    def _tz_id(self, ctx: Ctx) -> int:
        tz_id = ctx.int_param(0)
        if tz_id not in TIME_ZONES:
            raise ApiError(404, f"Time zone {tz_id} was not found.")
        return tz_id

    def h_timezone(self, ctx: Ctx) -> Response:
        return ok(render_timezone(ctx.base, self._tz_id(ctx)))

    def h_timezone_offset(self, ctx: Ctx) -> Response:
        tz_id = self._tz_id(ctx)
        when = ctx.q_time("date") or self.world.current_time()
        return ok(utc_offset_minutes(tz_id, when))

    # -- billing -----------------------------------------------------------------------------------

    def h_contract(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        created = bu.raw.get("createdDate") or "2023-06-10T11:10:11.321Z"
        start = str(created)[:10] + "T00:00:00Z"
        components = [
            {
                "quantity": 0,
                "price": price,
                "isCapacity": pid != 12,
                "includedBundles": 0,
                "startDate": start,
                "quantityCalculationOption": {"id": 1, "name": "Average"},
                "product": {
                    "name": name,
                    "inherited": False,
                    "inheritable": True,
                    "replicationType": 0,
                    "id": pid,
                    "createdDate": "2022-06-10T06:33:19.337Z",
                },
                "replicationType": 0,
                "id": bu.id * 10 + k,
                "createdDate": created,
            }
            for k, (pid, name, price) in enumerate(
                [(11, "Backup storage (GB)", 0.35), (12, "Backup node", 49.0)]
            )
        ]
        contract = {
            "href": f"{ctx.base}bunits/{bu.id}/contract",
            "billingStartDate": start,
            "agreedLegalTerms": "General terms 2023:1",
            "erpReference": f"C-{bu.id:05d}",
            "discount": 0.0 if bu.id % 3 else 5.0,
            "byCalendar": True,
            "prepayConsumption": False,
            "useCpuMultiplier": False,
            "billingCycle": {
                "id": 1,
                "name": "Monthly",
                "createdDate": "2022-06-10T06:33:19.337Z",
                "months": 1,
            },
            "paymentTerms": {
                "name": "30 days net",
                "code": "30",
                "id": 1,
                "createdDate": "2022-06-10T06:33:19.337Z",
            },
            "currency": CURRENCY,
            "subscriptions": [
                {
                    "billingStartDate": start,
                    "name": "Backup as a Service",
                    "currency": CURRENCY,
                    "contractCount": 1,
                    "components": components,
                    "id": 300 + bu.id % 50,
                    "createdDate": created,
                }
            ],
            "referrals": [],
            "id": bu.id * 7,
            "createdDate": created,
        }
        return ok(contract)

    def _invoice(
        self,
        base: str,
        bu: BusinessUnit,
        month: Any,
        index: int,
        *,
        full: bool,
        forecast: bool = False,
    ) -> JSON:
        date_str = month.isoformat()
        out: JSON = {"href": f"{base}bunits/{bu.id}/invoices/{date_str}"}
        out["payingBusinessUnit"] = render_bu_tiny(base, bu)
        if full:
            out["lines"] = self.world.invoice_lines(bu.id, month, forecast=forecast)
        out["id"] = bu.id * 100 + index
        out["createdDate"] = fmt_ms(
            datetime.combine(month, datetime.min.time(), UTC) + timedelta(hours=3)
        )
        return out

    def h_invoices(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        months = self.world.invoice_dates()
        if ctx.wants_csv():
            return self._csv([(m, bu, self.world.invoice_lines(bu.id, m)) for m in months])
        items = [self._invoice(ctx.base, bu, m, i, full=False) for i, m in enumerate(months)]
        return ok(listing(ctx.url, items))

    def _month_param(self, ctx: Ctx, index: int) -> Any:
        raw = ctx.params[index]
        try:
            return parse_date(raw)
        except ValueError:
            raise ApiError(400, f"'{raw}' is not a YYYY-MM-DD date.") from None

    def h_invoice(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        month = self._month_param(ctx, 1)
        months = self.world.invoice_dates()
        if month not in months:
            raise ApiError(404, f"No invoice for {month.isoformat()}.")
        if ctx.wants_csv():
            return self._csv([(month, bu, self.world.invoice_lines(bu.id, month))])
        return ok(self._invoice(ctx.base, bu, month, months.index(month), full=True))

    def _csv(self, rows: list[tuple[Any, BusinessUnit, list[JSON]]]) -> Response:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(
            [
                "invoiceDate",
                "payingBusinessUnitId",
                "payingBusinessUnit",
                "product",
                "startDate",
                "endDate",
                "quantity",
                "unitPrice",
                "amount",
                "currency",
            ]
        )
        for month, bu, lines in rows:
            for line in lines:
                writer.writerow(
                    [
                        month.isoformat(),
                        bu.id,
                        bu.name,
                        line["product"]["name"],
                        line["startDate"][:10],
                        line["endDate"][:10],
                        line["quantity"],
                        line["unitPrice"],
                        round(line["quantity"] * line["unitPrice"], 2),
                        "SEK",
                    ]
                )
        return Response(200, out.getvalue().encode("utf-8"), _CT_CSV)

    def h_invoice_files(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        files = self.world.invoice_files.get(bu.id, [])
        return ok(listing(ctx.url, [render_invoice_file(ctx.base, f) for f in files]))

    def h_invoice_file_upload(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        erp = ctx.q("erpReference")
        send_to_billing = ctx.q_bool("sendToBillingAddress")
        name, ctype, data = parse_multipart_file(ctx.body, ctx.content_type.decode("latin-1"))
        record = self.world.add_invoice_file(bu, name, ctype, data, erp or None, send_to_billing)
        self.stats.creates["invoicefile:" + name] += 1
        return ok(render_invoice_file(ctx.base, record))

    def h_invoice_file(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        fid = ctx.int_param(1)
        for f in self.world.invoice_files.get(bu.id, []):
            if f.id == fid:
                disposition = f'attachment; filename="{quote(f.file_name)}"'.encode("latin-1")
                return Response(
                    200,
                    f.data,
                    f.content_type.encode("latin-1"),
                    [(b"content-disposition", disposition)],
                )
        raise ApiError(404, f"Invoice file {fid} was not found.")

    def _billing_data(
        self,
        base: str,
        bu: BusinessUnit,
        month: Any,
        index: int,
        *,
        forecast: bool,
        use_forecasting: bool,
    ) -> JSON:
        world = self.world
        payers = [world.bunits[b] for b in bu.children] or [bu]
        invoices = []
        total = 0.0
        for payer in payers:
            inv = self._invoice(
                base, payer, month, index, full=True, forecast=forecast and use_forecasting
            )
            total += sum(line["quantity"] * line["unitPrice"] for line in inv["lines"])
            invoices.append(inv)
        date_str = month.isoformat()
        out: JSON = {}
        if not forecast:
            out["href"] = f"{base}bunits/{bu.id}/billing/{date_str}"
        out["invoiceDateStr"] = date_str
        out["summary"] = [{"currency": CURRENCY, "total": round(total, 2)}]
        out["billingBusinessUnit"] = render_bu_tiny(base, bu)
        out["invoiceDate"] = fmt_s(datetime.combine(month, datetime.min.time(), UTC))
        out["invoices"] = invoices
        out["id"] = bu.id * 1000 + index
        out["createdDate"] = fmt_ms(
            datetime.combine(month, datetime.min.time(), UTC) + timedelta(hours=4)
        )
        return out

    def h_billing(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        include_next = ctx.q_int("includeNext", 0)
        assert include_next is not None
        if include_next > 24:
            raise ApiError(400, "includeNext must be at most 24.")
        use_forecasting = ctx.q_bool("useForecasting", True)
        past = self.world.invoice_dates()
        future = self.world.future_months(include_next)
        items = [
            self._billing_data(
                ctx.base, bu, m, 100 + i, forecast=True, use_forecasting=use_forecasting
            )
            for i, m in reversed(list(enumerate(future)))
        ] + [
            self._billing_data(ctx.base, bu, m, i, forecast=False, use_forecasting=False)
            for i, m in enumerate(past)
        ]
        if ctx.wants_csv():
            rows = []
            for item in items:
                month = parse_date(item["invoiceDateStr"])
                for inv in item["invoices"]:
                    payer = self.world.bunits[inv["payingBusinessUnit"]["id"]]
                    rows.append((month, payer, inv["lines"]))
            return self._csv(rows)
        return ok(listing(ctx.url, items))

    def h_billing_one(self, ctx: Ctx) -> Response:
        bu = ctx.bunit()
        month = self._month_param(ctx, 1)
        past = self.world.invoice_dates()
        if month not in past:
            raise ApiError(404, f"No billing data for {month.isoformat()}.")
        return ok(
            self._billing_data(
                ctx.base, bu, month, past.index(month), forecast=False, use_forecasting=False
            )
        )
