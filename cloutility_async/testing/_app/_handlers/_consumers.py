"""Consumers (consumption units) and their audit logs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ..._errors import ApiError
from ..._world import Consumer
from ..._world._catalog import (
    AUDIT_TYPES,
)
from .._context import Ctx
from .._render import (
    consumer_href,
    listing,
    render_consumer_full,
    render_consumer_thin,
)
from .._responses import JSON, NO_CONTENT, Response, ok
from .._router import RouteSpec


def consumers(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    world = ctx.world
    items = []
    for cid in bu.consumer_ids:
        items.append(render_consumer_thin(ctx.base, world.consumers[cid]))
    return ok(listing(ctx.url, items))


def consumer_create(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    c = ctx.world.create_consumer(bu, ctx.json_body(), ctx.root_id)
    ctx.stats.creates[c.name] += 1
    return ok(render_consumer_full(ctx.world, ctx.base, c))


def consumer_get(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    return ok(render_consumer_full(ctx.world, ctx.base, c))


def consumer_put(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.update_consumer(c, ctx.json_body())
    return ok(render_consumer_full(ctx.world, ctx.base, c))


def consumer_delete(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.q_bool("deleteAssociations")
    ctx.world.delete_consumer(c)
    return NO_CONTENT


def _audit_item(ctx: Ctx, c: Consumer, e: Any) -> JSON:
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


def auditlogs(ctx: Ctx) -> Response:
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
            [_audit_item(ctx, c, e) for e in page],
            offset=offset,
            total=len(matched),
            first=first,
        )
    )


def auditlog(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    eid = ctx.int_param(2)
    for e in c.audit:
        if e.id == eid:
            return ok(_audit_item(ctx, c, e))
    raise ApiError(404, f"Audit log entry {eid} was not found.")


ROUTES: list[RouteSpec] = [
    ("GET", "bunits/{id}/consumers", consumers),
    ("POST", "bunits/{id}/consumers", consumer_create),
    ("GET", "bunits/{id}/consumers/{id}", consumer_get),
    ("PUT", "bunits/{id}/consumers/{id}", consumer_put),
    ("DELETE", "bunits/{id}/consumers/{id}", consumer_delete),
    ("GET", "bunits/{id}/consumers/{id}/auditlogs", auditlogs),
    ("GET", "bunits/{id}/consumers/{id}/auditlogs/{id}", auditlog),
]
