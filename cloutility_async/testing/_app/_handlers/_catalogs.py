"""Portal-wide look-ups: the version, the backup server and its catalogs, node catalogs,
time zones."""

from __future__ import annotations

from ..._errors import ApiError
from ..._formats import TIME_ZONES, utc_offset_minutes
from ..._world import BusinessUnit
from ..._world._catalog import (
    BACKUP_SERVER,
    CATALOG_DATE,
    CLIENT_OPTION_SETS,
    DOMAINS,
    NODE_OPERATING_SYSTEMS,
    NODE_TYPES,
    NODE_WARNING_TYPES,
    catalog_partial,
)
from .._context import Ctx
from .._render import (
    listing,
    render_timezone,
)
from .._responses import JSON, Response, ok
from .._router import RouteSpec

FULL_VERSION = "1.0.4480.0"


def full_version(ctx: Ctx) -> Response:
    return ok(FULL_VERSION)


def _server(base: str, bu: BusinessUnit) -> JSON:
    return {
        "href": f"{base}bunits/{bu.id}/defaultserver",
        "id": BACKUP_SERVER[0],
        "name": BACKUP_SERVER[1],
    }


def default_server(ctx: Ctx) -> Response:
    return ok(_server(ctx.base, ctx.bunit()))


def domains(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    server = _server(ctx.base, bu)
    items = [{"server": server, **catalog_partial("domain", d[0])} for d in DOMAINS]
    return ok(listing(ctx.url, items))


def client_option_sets(ctx: Ctx) -> Response:
    ctx.bunit()
    items = [catalog_partial("clientOptionSet", s[0]) for s in CLIENT_OPTION_SETS]
    return ok(listing(ctx.url, items))


def _os(base: str, os_id: int, *, full: bool) -> JSON:
    out: JSON = {
        "href": f"{base}nodeoperatingsystems/{os_id}",
        **catalog_partial("operatingSystem", os_id),
    }
    if full:
        supported = next(o[3] for o in NODE_OPERATING_SYSTEMS if o[0] == os_id)
        out["supportedNodeTypes"] = [_node_type(base, t) for t in supported]
    return out


def _node_type(base: str, type_id: int) -> JSON:
    out: JSON = {"href": f"{base}nodetypes/{type_id}", **catalog_partial("type", type_id)}
    if type_id == 6:
        del out["shortName"]  # optional, and undefined for this one
    return out


def node_oses(ctx: Ctx) -> Response:
    return ok(listing(ctx.url, [_os(ctx.base, o[0], full=False) for o in NODE_OPERATING_SYSTEMS]))


def node_os(ctx: Ctx) -> Response:
    os_id = ctx.int_param(0)
    if os_id not in {o[0] for o in NODE_OPERATING_SYSTEMS}:
        raise ApiError(404, f"Operating system {os_id} was not found.")
    return ok(_os(ctx.base, os_id, full=True))


def node_types(ctx: Ctx) -> Response:
    return ok(listing(ctx.url, [_node_type(ctx.base, t[0]) for t in NODE_TYPES]))


def node_type(ctx: Ctx) -> Response:
    type_id = ctx.int_param(0)
    if type_id not in {t[0] for t in NODE_TYPES}:
        raise ApiError(404, f"Node type {type_id} was not found.")
    return ok(_node_type(ctx.base, type_id))


def warning_types(ctx: Ctx) -> Response:
    items = []
    for wid, name, uses_limit in NODE_WARNING_TYPES:
        item: JSON = {}
        if name is not None:
            item["name"] = name
        item.update({"usesLimit": uses_limit, "id": wid, "createdDate": CATALOG_DATE})
        items.append(item)
    return ok(listing(ctx.url, items))


def timezones(ctx: Ctx) -> Response:
    return ok(
        listing(ctx.url, [render_timezone(ctx.base, tz, embedded=False) for tz in TIME_ZONES])
    )


def _tz_id(ctx: Ctx) -> int:
    tz_id = ctx.int_param(0)
    if tz_id not in TIME_ZONES:
        raise ApiError(404, f"Time zone {tz_id} was not found.")
    return tz_id


def timezone(ctx: Ctx) -> Response:
    return ok(render_timezone(ctx.base, _tz_id(ctx)))


def timezone_offset(ctx: Ctx) -> Response:
    tz_id = _tz_id(ctx)
    when = ctx.q_time("date") or ctx.world.current_time()
    return ok(utc_offset_minutes(tz_id, when))


ROUTES: list[RouteSpec] = [
    ("GET", "fullVersion", full_version),
    ("GET", "bunits/{id}/defaultserver", default_server),
    ("GET", "bunits/{id}/defaultserver/domains", domains),
    ("GET", "bunits/{id}/defaultserver/clientoptionsets", client_option_sets),
    ("GET", "nodeoperatingsystems", node_oses),
    ("GET", "nodeoperatingsystems/{id}", node_os),
    ("GET", "nodetypes", node_types),
    ("GET", "nodetypes/{id}", node_type),
    ("GET", "nodewarningtypes", warning_types),
    ("GET", "timezones", timezones),
    ("GET", "timezones/{id}", timezone),
    ("GET", "timezones/{id}/offset", timezone_offset),
]
