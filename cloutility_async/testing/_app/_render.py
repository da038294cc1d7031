"""The portal's payload shapes: full, partial and thin records, stubs and listings.

Renderers are pure: a record and the request's base URL in, JSON out (every ``href``
absolute, built from the base URL the client used).
"""

from __future__ import annotations

from typing import Any

from .._formats import TIME_ZONES, fmt_ms
from .._world import BusinessUnit, Consumer, InvoiceFile, Job, Report, User, World
from .._world._catalog import CATALOG_DATE, DATA_SOURCE_TYPE, STATE_BY_KIND
from ._responses import JSON

__all__ = [
    "consumer_href",
    "listing",
    "render_bu_full",
    "render_bu_partial",
    "render_bu_thin",
    "render_bu_tiny",
    "render_consumer_full",
    "render_consumer_thin",
    "render_first_job",
    "render_invoice_file",
    "render_job",
    "render_node",
    "render_node_stub",
    "render_node_thin",
    "render_report",
    "render_simple_tree",
    "render_timezone",
    "render_user",
]

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
    out["createdDate"] = CATALOG_DATE
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


def render_node_stub(world: World, base: str, cid: int) -> JSON:
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
            v = [render_node_stub(world, base, a) for a, t in sorted(world.proxies) if t == c.id]
        elif k == "proxyTargets":
            v = [render_node_stub(world, base, t) for a, t in sorted(world.proxies) if a == c.id]
        out[k] = v
    if "proxyAgents" not in out:
        out["proxyAgents"] = [
            render_node_stub(world, base, a) for a, t in sorted(world.proxies) if t == c.id
        ]
        out["proxyTargets"] = [
            render_node_stub(world, base, t) for a, t in sorted(world.proxies) if a == c.id
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
