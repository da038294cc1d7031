"""A consumer's backup node: CRUD, password, activation, filespaces, proxies."""

from __future__ import annotations

from ..._errors import ApiError
from ..._world import Consumer
from .._context import Ctx
from .._render import (
    consumer_href,
    listing,
    render_node,
    render_node_stub,
    render_node_thin,
)
from .._responses import NO_CONTENT, Response, ok
from .._router import RouteSpec


def node_get(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.require_node(c)
    return ok(render_node(ctx.world, ctx.base, c))


def node_create(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.create_node(c, ctx.json_body())
    ctx.stats.creates["node:" + c.name] += 1
    return ok(render_node(ctx.world, ctx.base, c))


def node_put(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.update_node(c, ctx.json_body())
    return ok(render_node(ctx.world, ctx.base, c))


def node_delete(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.require_node(c)
    ctx.q_bool("deleteAssociations")
    rendered = render_node(ctx.world, ctx.base, c)
    ctx.world.delete_consumer(c)
    return ok(rendered)


def node_password(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.set_node_password(c, ctx.json_body())
    return ok(render_node(ctx.world, ctx.base, c))


def node_activate(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    return ok(ctx.world.activate_node(c, ctx.q("tsmName")))


def node_spname(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    return ok(ctx.world.suggest_name(c))


def filespaces(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.require_node(c)
    ctx.q_bool("tsmSync")
    href = consumer_href(ctx.base, c) + "/node/filespaces"
    items = [{"href": f"{href}/{fs['id']}", **fs} for fs in c.filespaces]
    return ok(listing(ctx.url, items))


def filespace(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.require_node(c)
    fid = ctx.int_param(2)
    for fs in c.filespaces:
        if fs["id"] == fid:
            href = f"{consumer_href(ctx.base, c)}/node/filespaces/{fid}"
            return ok({"href": href, **fs})
    raise ApiError(404, f"Filespace {fid} was not found.")


def possible_proxies(ctx: Ctx) -> Response:
    bu, c = ctx.bu_and_consumer()
    ctx.world.require_node(c)
    items = []
    for cid in bu.consumer_ids:
        other = ctx.world.details(ctx.world.consumers[cid])
        if other.id != c.id and other.activated:
            items.append(render_node_thin(ctx.base, other))
    return ok(listing(ctx.url, items))


def _other_consumer(ctx: Ctx, cid: int | None, what: str) -> Consumer:
    if cid is None:
        raise ApiError(400, f"{what} is required.")
    other = ctx.world.consumers.get(cid)
    if other is None or not ctx.world.is_within(other.bu_id, ctx.root_id):
        raise ApiError(404, f"Consumption unit {cid} was not found.")
    return ctx.world.details(other)


def proxy_agents(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.require_node(c)
    items = [
        render_node_stub(ctx.world, ctx.base, a) for a, t in sorted(ctx.world.proxies) if t == c.id
    ]
    return ok(listing(ctx.url, items))


def proxy_targets(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.world.require_node(c)
    items = [
        render_node_stub(ctx.world, ctx.base, t) for a, t in sorted(ctx.world.proxies) if a == c.id
    ]
    return ok(listing(ctx.url, items))


def proxy_agent_add(ctx: Ctx) -> Response:
    _bu, target = ctx.bu_and_consumer()
    agent = _other_consumer(ctx, ctx.q_int("proxyAgentId"), "proxyAgentId")
    ctx.world.add_proxy(agent, target)
    return ok(render_node(ctx.world, ctx.base, target))


def proxy_target_add(ctx: Ctx) -> Response:
    _bu, agent = ctx.bu_and_consumer()
    target = _other_consumer(ctx, ctx.q_int("proxyTargetId"), "proxyTargetId")
    ctx.world.add_proxy(agent, target)
    return ok(render_node(ctx.world, ctx.base, agent))


def proxy_agent_delete(ctx: Ctx) -> Response:
    _bu, target = ctx.bu_and_consumer()
    ctx.world.remove_proxy(ctx.int_param(2), target.id)
    return NO_CONTENT


def proxy_target_delete(ctx: Ctx) -> Response:
    _bu, agent = ctx.bu_and_consumer()
    ctx.world.remove_proxy(agent.id, ctx.int_param(2))
    return NO_CONTENT


ROUTES: list[RouteSpec] = [
    ("GET", "bunits/{id}/consumers/{id}/node", node_get),
    ("POST", "bunits/{id}/consumers/{id}/node", node_create),
    ("PUT", "bunits/{id}/consumers/{id}/node", node_put),
    ("DELETE", "bunits/{id}/consumers/{id}/node", node_delete),
    ("POST", "bunits/{id}/consumers/{id}/node/password", node_password),
    ("GET", "bunits/{id}/consumers/{id}/node/activate", node_activate),
    ("GET", "bunits/{id}/consumers/{id}/node/spname", node_spname),
    ("GET", "bunits/{id}/consumers/{id}/node/filespaces", filespaces),
    ("GET", "bunits/{id}/consumers/{id}/node/filespaces/{id}", filespace),
    ("GET", "bunits/{id}/consumers/{id}/node/possibleproxynodes", possible_proxies),
    ("GET", "bunits/{id}/consumers/{id}/node/proxyagents", proxy_agents),
    ("POST", "bunits/{id}/consumers/{id}/node/proxyagents", proxy_agent_add),
    ("DELETE", "bunits/{id}/consumers/{id}/node/proxyagents/{id}", proxy_agent_delete),
    ("GET", "bunits/{id}/consumers/{id}/node/proxytargets", proxy_targets),
    ("POST", "bunits/{id}/consumers/{id}/node/proxytargets", proxy_target_add),
    ("DELETE", "bunits/{id}/consumers/{id}/node/proxytargets/{id}", proxy_target_delete),
]
