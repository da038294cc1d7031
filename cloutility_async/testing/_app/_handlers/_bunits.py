"""The signed-in user, business units (tree, search, CRUD, ancestors), users, addresses."""

from __future__ import annotations

from ..._errors import ApiError
from ..._world._catalog import CATALOG_DATE
from .._context import Ctx
from .._render import (
    listing,
    render_bu_full,
    render_bu_thin,
    render_simple_tree,
    render_user,
)
from .._responses import NO_CONTENT, Response, ok
from .._router import RouteSpec


def me(ctx: Ctx) -> Response:
    user = ctx.world.users[ctx.world.demo_user_id]
    return ok(render_user(ctx.world, ctx.base, user, full=True))


def bunit_tree(ctx: Ctx) -> Response:
    bid = ctx.q_int("bunitId")
    root = ctx.root_id
    if bid is not None:
        if bid not in ctx.world.bunits:
            raise ApiError(404, f"Business unit {bid} was not found.")
        if not ctx.world.is_within(bid, root):
            raise ApiError(403, f"You do not have access to business unit {bid}.")
        root = bid
    return ok(render_simple_tree(ctx.world, ctx.world.bunits[root], top=True))


def search_bunits(ctx: Ctx) -> Response:
    term = (ctx.q("searchTerm") or "").strip().lower()
    world = ctx.world
    items = [
        render_bu_thin(ctx.base, world.bunits[bid])
        for bid in world.descendants(ctx.root_id)
        if term in world.bunits[bid].name.lower()
    ]
    return ok(listing(ctx.url, items))


def bunit_get(ctx: Ctx) -> Response:
    return ok(render_bu_full(ctx.world, ctx.base, ctx.bunit()))


def bunit_put(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    ctx.world.update_bunit(bu, ctx.json_body())
    return ok(render_bu_full(ctx.world, ctx.base, bu))


def bunit_delete(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    if bu.id == ctx.root_id:
        raise ApiError(403, "You cannot delete your own business unit.")
    ctx.world.delete_bunit(bu)
    return NO_CONTENT


def bunit_children(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    items = [render_bu_thin(ctx.base, ctx.world.bunits[b]) for b in bu.children]
    return ok(listing(ctx.url, items))


def bunit_create(ctx: Ctx) -> Response:
    parent = ctx.bunit()
    bu = ctx.world.create_bunit(parent, ctx.json_body())
    ctx.stats.creates["bunit:" + bu.name] += 1
    return ok(render_bu_full(ctx.world, ctx.base, bu))


def bunit_ancestors(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    root = ctx.root_id
    chain = [] if bu.id == root else ctx.world.ancestors(bu.id)
    items = []
    for bid in chain:
        items.append(render_bu_thin(ctx.base, ctx.world.bunits[bid]))
        if bid == root:
            break
    return ok(listing(ctx.url, items))


def users(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    users = [ctx.world.users[u] for u in bu.user_ids]
    return ok(listing(ctx.url, [render_user(ctx.world, ctx.base, u, full=False) for u in users]))


def user(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    uid = ctx.int_param(1)
    user = ctx.world.users.get(uid)
    if user is None or user.bu_id != bu.id:
        raise ApiError(404, f"User {uid} was not found.")
    return ok(render_user(ctx.world, ctx.base, user, full=True))


def addresses(ctx: Ctx) -> Response:
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
        "type": {"id": 1, "name": "Billing", "createdDate": CATALOG_DATE},
        "country": {
            "name": "Sweden",
            "code": "SE",
            "id": 1,
            "createdDate": CATALOG_DATE,
        },
        "id": bu.id * 10,
        "createdDate": bu.raw.get("createdDate"),
    }
    return ok(listing(ctx.url, [address]))


ROUTES: list[RouteSpec] = [
    ("GET", "me", me),
    ("GET", "bunits", bunit_tree),
    ("GET", "search/bunits", search_bunits),
    ("GET", "bunits/{id}", bunit_get),
    ("PUT", "bunits/{id}", bunit_put),
    ("DELETE", "bunits/{id}", bunit_delete),
    ("GET", "bunits/{id}/bunits", bunit_children),
    ("POST", "bunits/{id}/bunits", bunit_create),
    ("GET", "bunits/{id}/ancestors", bunit_ancestors),
    ("GET", "bunits/{id}/users", users),
    ("GET", "bunits/{id}/users/{id}", user),
    ("GET", "bunits/{id}/addresses", addresses),
]
