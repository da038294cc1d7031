"""Every route of the reference: method, path, query, body, and the typed model returned."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import httpx
import pytest
import respx

from cloutility_async import ValidationError
from cloutility_async._models import (
    Address,
    APIEndpoint,
    AuditLogEntry,
    AuditLogType,
    BackupServer,
    BillingData,
    BusinessUnit,
    ClientOptionSet,
    Consumer,
    Contract,
    Domain,
    Filespace,
    Invoice,
    InvoiceFile,
    Job,
    Node,
    NodeOperatingSystem,
    NodeReport,
    NodeType,
    NodeWarningType,
    SimpleBusinessUnit,
    TimeZone,
    User,
)
from cloutility_async._resources import (
    BusinessUnitRef,
    CollectionRef,
    ConsumerRef,
    NodeRef,
    ResourceRef,
    TimeZoneRef,
)
from tests.fakeportal import BASE_URL, FakePortal

pytestmark = pytest.mark.anyio

UTC = dt.timezone.utc
CET = dt.timezone(dt.timedelta(hours=1))
NO_BODY = object()

C = "bunits/22/consumers/408"  # the consumer every consumer and node test uses
N = f"{C}/node"


def href(path: str) -> str:
    return BASE_URL + path


def listing(path: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A top-level list body as the portal sends it."""
    return {
        "href": href(path),
        "total": len(items),
        "offset": 0,
        "first": href(path),
        "items": items,
    }


def stub(path: str, kind: str) -> dict[str, Any]:
    """An embedded collection stub: empty although the linked collection may not be."""
    return {
        "$type": f"CloudPortal.Web.Api.Hyper.Collection`1[[CloudPortal.Web.Api.Hyper.{kind}, "
        "CloudPortal.Web.Api]], CloudPortal.Web.Api",
        "href": href(path),
        "total": 0,
        "items": [],
    }


def only_request(route: respx.Route) -> httpx.Request:
    assert route.call_count == 1
    return route.calls.last.request


def check(
    request: httpx.Request,
    method: str,
    path: str,
    params: list[tuple[str, str]] | None = None,
    body: Any = NO_BODY,
) -> None:
    """The request's method, URL without query, exact query items, and exact JSON body."""
    assert request.method == method
    assert str(request.url).split("?")[0] == href(path)
    assert sorted(request.url.params.multi_items()) == sorted(params or [])
    if body is NO_BODY:
        assert request.content == b""
    else:
        assert request.headers["content-type"].startswith("application/json")
        assert json.loads(request.content) == body


# -- response bodies, shaped like the reference's examples ---------------------------------

TIME_ZONE = {
    "$type": "CloudPortal.Web.Api.Hyper.TimeZone, CloudPortal.Web.Api",
    "href": href("timezones/4"),
    "actions": [
        {"name": "Calculate UTC offset", "method": "GET", "href": href("timezones/4/offset?date")}
    ],
    "name": "(GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
    "windowsId": "W. Europe Standard Time",
    "offset": 0,
    "id": 4,
    "createdDate": "2022-06-10T06:33:19.337Z",
}

TREE = {
    "id": 22,
    "name": "Company AB",
    "groupName": "Safespring",
    "reportRemotely": False,
    "businessUnits": [
        {
            "id": 76,
            "parentId": 22,
            "name": "Marketing Department",
            "groupName": "Safespring",
            "reportRemotely": False,
            "businessUnits": [],
            "tags": [],
            "invoiceDay": 0,
        },
        {
            "id": 94,
            "parentId": 22,
            "name": "HR Department",
            "groupName": "Safespring",
            "reportRemotely": False,
            "businessUnits": [],
            "tags": [],
            "invoiceDay": 0,
        },
    ],
    "tags": [],
    "invoiceDay": 0,
}

BUSINESS_UNIT = {
    "href": href("bunits/22"),
    "parentBusinessUnit": {
        "domainFilter": [],
        "clientOptionSetFilter": [],
        "name": "Safespring - Sverige",
        "supportResponsible": False,
        "registrationNumber": "",
        "invoiceDay": 0,
        "reportRemotely": False,
        "tags": [],
        "id": 13,
        "createdDate": "2022-08-22T15:01:45.027Z",
    },
    "timeZone": TIME_ZONE,
    "users": stub("bunits/22/users", "User"),
    "addresses": stub("bunits/22/addresses", "Address"),
    "businessUnits": stub("bunits/22/bunits", "BusinessUnit"),
    "domainFilter": [],
    "clientOptionSetFilter": [],
    "name": "Company AB",
    "supportResponsible": False,
    "registrationNumber": "556677-8899",
    "invoiceDay": 0,
    "billingStorageTypeId": 2,
    "billingStorageType": 2,
    "useScheduleBindings": False,
    "consumers": [],
    "storageLimit": 0,
    "transferLimit": 0,
    "nodeLimit": 0,
    "passwordExpirationDays": 0,
    "requiredApproversOfDeleteRequest": 0,
    "finalDeleteRequestApprover": False,
    "usersCanApproveOwnRequests": False,
    "reportRemotely": False,
    "tags": [],
    "id": 22,
    "createdDate": "2023-06-10T11:10:11.321Z",
}

# The thin object a list route sends.
CHILD_UNIT = {
    "href": href("bunits/76"),
    "name": "Marketing Department",
    "registrationNumber": "123456789999",
    "id": 76,
    "createdDate": "2023-06-10T11:10:11.321Z",
}

CONSUMER = {
    "href": href(C),
    "dataSourceType": {"id": 1, "name": "SP Backup node"},
    "dataSourceIsPotentialParent": False,
    "dataSourceState": {"id": 3, "name": "Active"},
    "name": "JennysWS",
    "billingStartDate": "2023-06-09T00:00:00Z",
    # Embedded and partial: no timeZone, no parent, stub collections.
    "businessUnit": {
        "$type": "CloudPortal.Web.Api.Hyper.BusinessUnit, CloudPortal.Web.Api",
        "href": href("bunits/22"),
        "ancestors": {"href": href("bunits/22/ancestors"), "total": 0, "items": []},
        "users": stub("bunits/22/users", "User"),
        "addresses": stub("bunits/22/addresses", "Address"),
        "businessUnits": stub("bunits/22/bunits", "BusinessUnit"),
        "domainFilter": [],
        "clientOptionSetFilter": [],
        "name": "Company AB",
        "id": 22,
        "createdDate": "2023-06-10T11:10:11.321Z",
    },
    "lastCommentTime": "2023-10-20T16:58:26.237Z",
    "lastCommentTypeId": 2,
    "comments": [],
    "note": "Jenny's workstation.",
    "limitHighStorage": 100.0,
    "allowNoActivity": False,
    "tags": [],
    "jobs": [],
    "id": 408,
    "createdDate": "2023-07-09T15:10:20.133Z",
}

USER = {
    "href": href("bunits/22/users/7"),
    "actions": [],
    "name": "alice",
    "email": "alice@example.com",
    "locked": False,
    "businessUnit": {"href": href("bunits/22"), "name": "Company AB", "id": 22},
    "businessUnitId": 22,
    "displayName": "Alice Andersson",
    "id": 7,
    "createdDate": "2022-08-22T15:01:45.027Z",
}

SERVER = {"href": href("bunits/22/defaultserver"), "id": 5, "name": "TSM01"}
NODE_TYPE = {
    "href": href("nodetypes/1"),
    "id": 1,
    "name": "File server",
    "shortName": "FS",
    "createdDate": "2022-06-10T06:33:19.337Z",
}
OPERATING_SYSTEM = {
    "href": href("nodeoperatingsystems/3"),
    "name": "Windows",
    "shortName": "WIN",
    "supportedNodeTypes": [NODE_TYPE],
    "id": 3,
    "createdDate": "2022-06-10T06:33:19.337Z",
}
DOMAIN = {
    "href": href("bunits/22/defaultserver/domains/1"),
    "server": SERVER,
    "name": "STANDARD",
    "description": "Standard policy domain",
    "backupRetention": 30,
    "archiveRetention": 365,
    "missingInTsm": False,
    "id": 1,
    "createdDate": "2022-06-10T06:33:19.337Z",
}
CLIENT_OPTION_SET = {
    "href": href("bunits/22/defaultserver/clientoptionsets/2"),
    "name": "WINDOWS",
    "description": "Windows client options",
    "id": 2,
    "createdDate": "2022-06-10T06:33:19.337Z",
}
NODE = {
    "href": href(N),
    "cpuCount": 4,
    "locked": False,
    "operatingSystem": {"name": "Windows", "id": 3},
    "type": {"name": "File server", "id": 1},
    "domain": {"name": "STANDARD", "id": 1},
    "clientOptionSet": {"name": "WINDOWS", "id": 2},
    "proxyAgents": [],
    "proxyTargets": [],
    "tsmName": "JENNYSWS",
    "contact": "jenny@example.com",
    "decommissioned": False,
    "name": "JennysWS",
    "id": 512,
    "createdDate": "2023-07-09T15:10:20.133Z",
}
FILESPACE = {
    "href": href(f"{N}/filespaces/31"),
    "tsmFilespaceId": "1",
    "type": "NTFS",
    "capacityMegaBytes": 476000.0,
    "percentageUtilized": 41.5,
    "lastBackupEnd": "2023-11-03T02:13:00Z",
    "name": "\\\\jennysws\\c$",
    "id": 31,
}
AUDIT_ENTRY = {
    "href": href(f"{C}/auditlogs/1"),
    "id": 1,
    "createdDate": "2023-11-03T08:15:00Z",
    "type": 100,
    "typeName": "Create",
    "message": "Consumption unit JennysWS created",
    "userName": "alice",
    "userId": 7,
}
REPORT = {
    "name": "JennysWS",
    "dataSource": "JENNYSWS",
    "tsmName": "JENNYSWS",
    "status": {"id": 1, "name": "OK"},
    "megaBytes": 1024.5,
    "transferredMegaBytes": 12.25,
    "consumerId": 408,
    "businessUnitId": 22,
    "reportDate": "2023-11-03T00:00:00Z",
    "warnings": [{"type": {"id": 2, "name": "High storage"}, "days": 1, "limit": 100.0}],
    "id": 77,
}
FIRST_JOB = {
    "href": href(f"{C}/jobs/9000"),
    "businessUnitId": 0,
    "consumerId": 0,
    "completed": "2023-06-10T02:00:00Z",
    "examinedFiles": 0,
    "name": "",
    "duration": "00:00:00",
    "id": 0,
}
JOB = {
    "href": href(f"{C}/jobs/9001"),
    "businessUnitId": 22,
    "consumerId": 408,
    "status": {"id": 1, "name": "Completed"},
    "scheduled": True,
    "actualStart": "2023-11-03T01:00:00Z",
    "completed": "2023-11-03T01:12:30Z",
    "examinedFiles": 120345,
    "affectedFiles": 312,
    "failedFiles": 0,
    "transferredMegaBytes": 812.5,
    "name": "Incremental backup",
    "duration": "00:12:30",
    "id": 9001,
}
WARNING_TYPE = {"name": "High storage", "usesLimit": True, "id": 2}
CURRENCY = {"name": "Swedish krona", "code": "SEK", "symbol": "kr", "id": 1}
CONTRACT = {
    "href": href("bunits/22/contract"),
    "billingStartDate": "2023-01-01T00:00:00Z",
    "agreedLegalTerms": "Standard terms 2023",
    "erpReference": "ERP-1001",
    "discount": 5.0,
    "byCalendar": True,
    "prepayConsumption": False,
    "useCpuMultiplier": False,
    "currency": CURRENCY,
    "subscriptions": [],
    "referrals": [],
    "id": 3,
}
INVOICE = {
    "href": href("bunits/22/invoices/2023-11-01"),
    "payingBusinessUnit": {"href": href("bunits/22"), "name": "Company AB", "id": 22},
    "lines": [{"unitPrice": 10.0, "quantity": 2.5, "note": "Backup storage (GB)", "id": 1}],
    "id": 15,
    "createdDate": "2023-11-01T00:00:00Z",
}
INVOICE_FILE = {
    "href": href("bunits/22/invoicefiles/4"),
    "id": 4,
    "fileName": "invoice-2023-11.pdf",
    "contentType": "application/pdf",
    "size": 48213,
    "createdDate": "2023-11-02T09:00:00Z",
}
BILLING = {
    "href": href("bunits/22/billing/2023-11-01"),
    "invoiceDateStr": "2023-11-01",
    "summary": [{"currency": CURRENCY, "total": 1234.5}],
    "billingBusinessUnit": {"href": href("bunits/22"), "name": "Company AB", "id": 22},
    "invoiceDate": "2023-11-01T00:00:00Z",
    "invoices": [INVOICE],
    "id": 8,
}


# -- the client's own routes --------------------------------------------------------------


async def test_full_version_returns_the_bare_json_string() -> None:
    """full_version() sends GET fullVersion and returns the bare JSON string."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion", json="1.0.4480.0")
    async with portal.client() as api:
        assert await api.full_version() == "1.0.4480.0"
    check(only_request(route), "GET", "fullVersion")


async def test_me_gets_the_current_user() -> None:
    """me() sends GET me and returns a User with its business unit."""
    portal = FakePortal()
    route = portal.route("GET", "me", json=USER)
    async with portal.client() as api:
        user = await api.me()
    check(only_request(route), "GET", "me")
    assert isinstance(user, User)
    assert user.name == "alice"
    assert isinstance(user.business_unit, BusinessUnit)
    assert user.business_unit.id == 22


async def test_bunit_tree_gets_the_callers_tree() -> None:
    """bunit_tree() sends GET bunits without a query and returns the SimpleBusinessUnit tree."""
    portal = FakePortal()
    route = portal.route("GET", "bunits", json=TREE)
    async with portal.client() as api:
        tree = await api.bunit_tree()
    check(only_request(route), "GET", "bunits")
    assert isinstance(tree, SimpleBusinessUnit)
    assert [child.id for child in tree.business_units] == [76, 94]
    assert tree.business_units[1].parent_id == 22


async def test_bunit_tree_with_a_root_sends_bunit_id() -> None:
    """bunit_tree(76) sends GET bunits?bunitId=76."""
    portal = FakePortal()
    route = portal.route("GET", "bunits", json=TREE["businessUnits"][0])
    async with portal.client() as api:
        tree = await api.bunit_tree(76)
    check(only_request(route), "GET", "bunits", [("bunitId", "76")])
    assert isinstance(tree, SimpleBusinessUnit)
    assert tree.name == "Marketing Department"


async def test_search_bunits_sends_search_term() -> None:
    """search_bunits() sends GET search/bunits?searchTerm= and returns BusinessUnits."""
    portal = FakePortal()
    route = portal.route("GET", "search/bunits", json=listing("search/bunits", [CHILD_UNIT]))
    async with portal.client() as api:
        found = await api.search_bunits("Marketing & Sales")
    check(only_request(route), "GET", "search/bunits", [("searchTerm", "Marketing & Sales")])
    assert [type(unit) for unit in found] == [BusinessUnit]
    assert found[0].id == 76


async def test_timezones_lists_time_zones() -> None:
    """timezones() sends GET timezones and returns TimeZones."""
    portal = FakePortal()
    route = portal.route("GET", "timezones", json=listing("timezones", [TIME_ZONE]))
    async with portal.client() as api:
        zones = await api.timezones()
    check(only_request(route), "GET", "timezones")
    assert [type(zone) for zone in zones] == [TimeZone]
    assert zones[0].windows_id == "W. Europe Standard Time"


async def test_timezone_get_fetches_one_time_zone() -> None:
    """api.timezone(4).get() sends GET timezones/4 and returns a TimeZone with its action."""
    portal = FakePortal()
    route = portal.route("GET", "timezones/4", json=TIME_ZONE)
    async with portal.client() as api:
        zone = await api.timezone(4).get()
    check(only_request(route), "GET", "timezones/4")
    assert isinstance(zone, TimeZone)
    assert zone.id == 4
    assert isinstance(zone.actions[0], APIEndpoint)
    assert zone.actions[0].name == "Calculate UTC offset"


async def test_timezone_utc_offset_sends_an_aware_datetime_as_utc() -> None:
    """utc_offset() sends GET timezones/4/offset?date= in ISO 8601 UTC with a Z."""
    portal = FakePortal()
    route = portal.route("GET", "timezones/4/offset", json=60)
    async with portal.client() as api:
        offset = await api.timezone(4).utc_offset(dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET))
    check(only_request(route), "GET", "timezones/4/offset", [("date", "2023-11-03T08:00:00Z")])
    assert offset == 60


async def test_timezone_utc_offset_sends_a_date_as_midnight_utc() -> None:
    """utc_offset(date) sends the date as midnight UTC."""
    portal = FakePortal()
    route = portal.route("GET", "timezones/4/offset", json=120)
    async with portal.client() as api:
        offset = await api.timezone(4).utc_offset(dt.date(2023, 7, 1))
    check(only_request(route), "GET", "timezones/4/offset", [("date", "2023-07-01T00:00:00Z")])
    assert offset == 120


async def test_invoke_fills_in_the_time_zone_action() -> None:
    """invoke(tz.actions[0], date=...) GETs the action's href with date in ISO 8601 UTC."""
    portal = FakePortal()
    portal.route("GET", "timezones/4", json=TIME_ZONE)
    route = portal.route("GET", "timezones/4/offset", json=60)
    async with portal.client() as api:
        zone = await api.timezone(4)
        offset = await api.invoke(zone.actions[0], date=dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET))
    check(only_request(route), "GET", "timezones/4/offset", [("date", "2023-11-03T08:00:00Z")])
    assert offset == 60


async def test_node_operating_systems_lists_them() -> None:
    """node_operating_systems() sends GET nodeoperatingsystems."""
    portal = FakePortal()
    body = listing("nodeoperatingsystems", [OPERATING_SYSTEM])
    route = portal.route("GET", "nodeoperatingsystems", json=body)
    async with portal.client() as api:
        systems = await api.node_operating_systems()
    check(only_request(route), "GET", "nodeoperatingsystems")
    assert [type(os) for os in systems] == [NodeOperatingSystem]
    assert systems[0].supported_node_types[0].short_name == "FS"


async def test_node_operating_system_by_ref() -> None:
    """api.ref(nodeoperatingsystems/3).get() sends GET nodeoperatingsystems/3."""
    portal = FakePortal()
    route = portal.route("GET", "nodeoperatingsystems/3", json=OPERATING_SYSTEM)
    async with portal.client() as api:
        system = await api.ref(href("nodeoperatingsystems/3")).get()
    check(only_request(route), "GET", "nodeoperatingsystems/3")
    assert isinstance(system, NodeOperatingSystem)
    assert system.name == "Windows"


async def test_node_types_lists_them() -> None:
    """node_types() sends GET nodetypes."""
    portal = FakePortal()
    route = portal.route("GET", "nodetypes", json=listing("nodetypes", [NODE_TYPE]))
    async with portal.client() as api:
        types = await api.node_types()
    check(only_request(route), "GET", "nodetypes")
    assert [type(t) for t in types] == [NodeType]
    assert types[0].name == "File server"


async def test_node_type_by_ref() -> None:
    """Awaiting api.ref(nodetypes/1) sends GET nodetypes/1."""
    portal = FakePortal()
    route = portal.route("GET", "nodetypes/1", json=NODE_TYPE)
    async with portal.client() as api:
        node_type = await api.ref(href("nodetypes/1"))
    check(only_request(route), "GET", "nodetypes/1")
    assert isinstance(node_type, NodeType)
    assert node_type.id == 1


async def test_node_warning_types_lists_them() -> None:
    """node_warning_types() sends GET nodewarningtypes."""
    portal = FakePortal()
    body = listing("nodewarningtypes", [WARNING_TYPE])
    route = portal.route("GET", "nodewarningtypes", json=body)
    async with portal.client() as api:
        kinds = await api.node_warning_types()
    check(only_request(route), "GET", "nodewarningtypes")
    assert [type(k) for k in kinds] == [NodeWarningType]
    assert kinds[0].uses_limit is True


# -- business units -----------------------------------------------------------------------


async def test_bunit_get() -> None:
    """bunit(22).get() sends GET bunits/22 and returns the full BusinessUnit."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22", json=BUSINESS_UNIT)
    async with portal.client() as api:
        unit = await api.bunit(22).get()
    check(only_request(route), "GET", "bunits/22")
    assert isinstance(unit, BusinessUnit)
    assert unit.name == "Company AB"
    assert isinstance(unit.time_zone, TimeZone)
    assert unit.time_zone.id == 4


async def test_bunit_update_puts_every_field_back_with_the_change() -> None:
    """update() sends PUT bunits/22 with the whole object as received, name changed."""
    portal = FakePortal()
    portal.route("GET", "bunits/22", json=BUSINESS_UNIT)
    route = portal.route("PUT", "bunits/22", json={**BUSINESS_UNIT, "name": "Company AB (new)"})
    async with portal.client() as api:
        unit = await api.bunit(22).get()
        updated = await api.bunit(22).update(attrs.evolve(unit, name="Company AB (new)"))
    check(
        only_request(route), "PUT", "bunits/22", body={**BUSINESS_UNIT, "name": "Company AB (new)"}
    )
    assert isinstance(updated, BusinessUnit)
    assert updated.name == "Company AB (new)"


async def test_bunit_delete() -> None:
    """delete() sends DELETE bunits/22 with no body and no query."""
    portal = FakePortal()
    route = portal.route("DELETE", "bunits/22", status_code=204)
    async with portal.client() as api:
        assert await api.bunit(22).delete() is None
    check(only_request(route), "DELETE", "bunits/22")


async def test_bunit_children() -> None:
    """children() sends GET bunits/22/bunits and returns BusinessUnits."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/bunits", json=listing("bunits/22/bunits", [CHILD_UNIT]))
    async with portal.client() as api:
        children = await api.bunit(22).children()
    check(only_request(route), "GET", "bunits/22/bunits")
    assert [type(c) for c in children] == [BusinessUnit]
    assert children[0].registration_number == "123456789999"


async def test_bunit_create_child_with_a_time_zone_model() -> None:
    """create_child() POSTs bunits/22/bunits with name, registrationNumber and timeZone by id."""
    portal = FakePortal()
    portal.route("GET", "timezones/4", json=TIME_ZONE)
    route = portal.route("POST", "bunits/22/bunits", status_code=201, json=CHILD_UNIT)
    async with portal.client() as api:
        zone = await api.timezone(4)
        child = await api.bunit(22).create_child(
            name="Marketing Department", registration_number="123456789999", time_zone=zone
        )
    body = {
        "name": "Marketing Department",
        "registrationNumber": "123456789999",
        "timeZone": {"id": 4},
    }
    check(only_request(route), "POST", "bunits/22/bunits", body=body)
    assert isinstance(child, BusinessUnit)
    assert child.id == 76


async def test_bunit_create_child_with_a_time_zone_id() -> None:
    """create_child(time_zone=4) sends the same {"id": 4} reference."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/bunits", status_code=201, json=CHILD_UNIT)
    async with portal.client() as api:
        child = await api.bunit(22).create_child(
            name="Marketing Department", registration_number="123456789999", time_zone=4
        )
    body = {
        "name": "Marketing Department",
        "registrationNumber": "123456789999",
        "timeZone": {"id": 4},
    }
    check(only_request(route), "POST", "bunits/22/bunits", body=body)
    assert child.name == "Marketing Department"


async def test_bunit_create_child_with_only_a_name() -> None:
    """create_child(name=...) sends just the name."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/bunits", status_code=201, json=CHILD_UNIT)
    async with portal.client() as api:
        await api.bunit(22).create_child(name="Marketing Department")
    check(only_request(route), "POST", "bunits/22/bunits", body={"name": "Marketing Department"})


async def test_bunit_users() -> None:
    """users() sends GET bunits/22/users and returns Users."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/users", json=listing("bunits/22/users", [USER]))
    async with portal.client() as api:
        users = await api.bunit(22).users()
    check(only_request(route), "GET", "bunits/22/users")
    assert [type(u) for u in users] == [User]
    assert users[0].email == "alice@example.com"


async def test_bunit_consumers() -> None:
    """consumers() sends GET bunits/22/consumers and returns Consumers."""
    portal = FakePortal()
    body = listing("bunits/22/consumers", [CONSUMER])
    route = portal.route("GET", "bunits/22/consumers", json=body)
    async with portal.client() as api:
        consumers = await api.bunit(22).consumers()
    check(only_request(route), "GET", "bunits/22/consumers")
    assert [type(c) for c in consumers] == [Consumer]
    assert consumers[0].name == "JennysWS"


async def test_bunit_create_consumer_sends_camel_case_keys() -> None:
    """create_consumer() POSTs bunits/22/consumers with name and camelCase extra fields."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers", status_code=201, json=CONSUMER)
    async with portal.client() as api:
        consumer = await api.bunit(22).create_consumer(
            name="JennysWS",
            note="Jenny's workstation.",
            external_reference="CRM-77",
            allow_no_activity=False,
        )
    body = {
        "name": "JennysWS",
        "note": "Jenny's workstation.",
        "externalReference": "CRM-77",
        "allowNoActivity": False,
    }
    check(only_request(route), "POST", "bunits/22/consumers", body=body)
    assert isinstance(consumer, Consumer)
    assert consumer.id == 408


async def test_bunit_create_consumer_with_only_a_name() -> None:
    """create_consumer(name=...) sends the reference's simplest body, {"name": ...}."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers", status_code=201, json=CONSUMER)
    async with portal.client() as api:
        await api.bunit(22).create_consumer(name="LisasWS")
    check(only_request(route), "POST", "bunits/22/consumers", body={"name": "LisasWS"})


async def test_bunit_default_server() -> None:
    """default_server() sends GET bunits/22/defaultserver and returns a BackupServer."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/defaultserver", json=SERVER)
    async with portal.client() as api:
        server = await api.bunit(22).default_server()
    check(only_request(route), "GET", "bunits/22/defaultserver")
    assert isinstance(server, BackupServer)
    assert server.name == "TSM01"


async def test_bunit_domains() -> None:
    """domains() sends GET bunits/22/defaultserver/domains and returns Domains."""
    portal = FakePortal()
    path = "bunits/22/defaultserver/domains"
    route = portal.route("GET", path, json=listing(path, [DOMAIN]))
    async with portal.client() as api:
        domains = await api.bunit(22).domains()
    check(only_request(route), "GET", path)
    assert [type(d) for d in domains] == [Domain]
    assert domains[0].backup_retention == 30


async def test_bunit_client_option_sets() -> None:
    """client_option_sets() sends GET bunits/22/defaultserver/clientoptionsets."""
    portal = FakePortal()
    path = "bunits/22/defaultserver/clientoptionsets"
    route = portal.route("GET", path, json=listing(path, [CLIENT_OPTION_SET]))
    async with portal.client() as api:
        sets = await api.bunit(22).client_option_sets()
    check(only_request(route), "GET", path)
    assert [type(s) for s in sets] == [ClientOptionSet]
    assert sets[0].name == "WINDOWS"


async def test_bunit_contract() -> None:
    """contract() sends GET bunits/22/contract and returns a Contract."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/contract", json=CONTRACT)
    async with portal.client() as api:
        contract = await api.bunit(22).contract()
    check(only_request(route), "GET", "bunits/22/contract")
    assert isinstance(contract, Contract)
    assert contract.erp_reference == "ERP-1001"
    assert contract.currency is not None
    assert contract.currency.code == "SEK"


async def test_bunit_invoices() -> None:
    """invoices() sends GET bunits/22/invoices and returns Invoices."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/invoices", json=listing("bunits/22/invoices", [INVOICE]))
    async with portal.client() as api:
        invoices = await api.bunit(22).invoices()
    check(only_request(route), "GET", "bunits/22/invoices")
    assert [type(i) for i in invoices] == [Invoice]
    assert invoices[0].lines[0].unit_price == 10.0


@pytest.mark.parametrize("date", [dt.date(2023, 11, 1), "2023-11-01"])
async def test_bunit_invoice_of_a_date(date: dt.date | str) -> None:
    """invoice(date) sends GET bunits/22/invoices/YYYY-MM-DD and returns an Invoice."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/invoices/2023-11-01", json=INVOICE)
    async with portal.client() as api:
        invoice = await api.bunit(22).invoice(date)
    check(only_request(route), "GET", "bunits/22/invoices/2023-11-01")
    assert isinstance(invoice, Invoice)
    assert invoice.id == 15


async def test_bunit_invoice_files() -> None:
    """invoice_files() sends GET bunits/22/invoicefiles and returns InvoiceFiles."""
    portal = FakePortal()
    body = listing("bunits/22/invoicefiles", [INVOICE_FILE])
    route = portal.route("GET", "bunits/22/invoicefiles", json=body)
    async with portal.client() as api:
        files = await api.bunit(22).invoice_files()
    check(only_request(route), "GET", "bunits/22/invoicefiles")
    assert [type(f) for f in files] == [InvoiceFile]
    assert files[0].file_name == "invoice-2023-11.pdf"


async def test_bunit_billing_without_include_next() -> None:
    """billing() sends GET bunits/22/billing without a query."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/billing", json=listing("bunits/22/billing", [BILLING]))
    async with portal.client() as api:
        data = await api.bunit(22).billing()
    check(only_request(route), "GET", "bunits/22/billing")
    assert [type(d) for d in data] == [BillingData]
    assert data[0].invoice_date_str == "2023-11-01"


async def test_bunit_billing_with_include_next() -> None:
    """billing(include_next=2) sends GET bunits/22/billing?includeNext=2."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/billing", json=listing("bunits/22/billing", [BILLING]))
    async with portal.client() as api:
        data = await api.bunit(22).billing(include_next=2)
    check(only_request(route), "GET", "bunits/22/billing", [("includeNext", "2")])
    assert data[0].summary[0].total == 1234.5


@pytest.mark.parametrize("date", [dt.date(2023, 11, 1), "2023-11-01"])
async def test_bunit_billing_for_a_date(date: dt.date | str) -> None:
    """billing_for(date) sends GET bunits/22/billing/YYYY-MM-DD and returns BillingData."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/billing/2023-11-01", json=BILLING)
    async with portal.client() as api:
        data = await api.bunit(22).billing_for(date)
    check(only_request(route), "GET", "bunits/22/billing/2023-11-01")
    assert isinstance(data, BillingData)
    assert data.invoice_date == dt.datetime(2023, 11, 1, tzinfo=UTC)
    assert isinstance(data.invoices[0], Invoice)


# -- consumers ----------------------------------------------------------------------------


async def test_consumer_get() -> None:
    """consumer(408).get() sends GET bunits/22/consumers/408 and returns a Consumer."""
    portal = FakePortal()
    route = portal.route("GET", C, json=CONSUMER)
    async with portal.client() as api:
        consumer = await api.bunit(22).consumer(408).get()
    check(only_request(route), "GET", C)
    assert isinstance(consumer, Consumer)
    assert consumer.name == "JennysWS"
    assert consumer.billing_start_date == dt.datetime(2023, 6, 9, tzinfo=UTC)


async def test_consumer_update_puts_every_field_back_with_the_change() -> None:
    """update() sends PUT bunits/22/consumers/408 with the whole object, note changed."""
    portal = FakePortal()
    portal.route("GET", C, json=CONSUMER)
    route = portal.route("PUT", C, json={**CONSUMER, "note": "Moved to the lab."})
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)
        consumer = await ref
        updated = await ref.update(attrs.evolve(consumer, note="Moved to the lab."))
    check(only_request(route), "PUT", C, body={**CONSUMER, "note": "Moved to the lab."})
    assert isinstance(updated, Consumer)
    assert updated.note == "Moved to the lab."


async def test_consumer_delete_defaults_to_keeping_associations() -> None:
    """delete() sends DELETE .../consumers/408?deleteAssociations=false and no body."""
    portal = FakePortal()
    route = portal.route("DELETE", C, status_code=204)
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).delete() is None
    check(only_request(route), "DELETE", C, [("deleteAssociations", "false")])


async def test_consumer_delete_with_associations_and_comment() -> None:
    """delete(delete_associations=True, comment=...) sends both query parameters."""
    portal = FakePortal()
    route = portal.route("DELETE", C, status_code=204)
    async with portal.client() as api:
        await api.bunit(22).consumer(408).delete(delete_associations=True, comment="Replaced")
    params = [("deleteAssociations", "true"), ("deletionComment", "Replaced")]
    check(only_request(route), "DELETE", C, params)


async def test_consumer_audit_log_defaults() -> None:
    """audit_log() asks for every type, newest first, with limit and offset."""
    portal = FakePortal()
    path = f"{C}/auditlogs"
    route = portal.route("GET", path, json=listing(path, [AUDIT_ENTRY]))
    async with portal.client() as api:
        entries = [e async for e in await api.bunit(22).consumer(408).audit_log()]
    params = [
        ("limit", "100"),
        ("offset", "0"),
        ("includeDescendants", "false"),
        ("orderDesc", "true"),
        ("types", "0"),
        ("types", "100"),
        ("types", "200"),
        ("types", "300"),
        ("types", "400"),
    ]
    check(only_request(route), "GET", path, params)
    assert [type(e) for e in entries] == [AuditLogEntry]
    assert entries[0].type is AuditLogType.CREATE


async def test_consumer_audit_log_sends_every_filter_and_pages() -> None:
    """audit_log(...) sends includeDescendants, orderDesc, UTC times, repeated types; pages on."""
    portal = FakePortal()
    path = f"{C}/auditlogs"
    entries_json = [{**AUDIT_ENTRY, "id": n, "type": 300} for n in (1, 2, 3)]

    async def pages(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        items = entries_json[offset : offset + 2]
        return httpx.Response(200, json={**listing(path, items), "total": 3, "offset": offset})

    route = portal.route("GET", path, pages)
    async with portal.client() as api:
        log = (
            await api.bunit(22)
            .consumer(408)
            .audit_log(
                types=[AuditLogType.DELETE, 400],
                start=dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET),
                end=dt.date(2023, 11, 10),
                newest_first=False,
                include_descendants=True,
                page_size=2,
            )
        )
        entries = [entry async for entry in log]
    assert [e.id for e in entries] == [1, 2, 3]
    assert all(isinstance(e, AuditLogEntry) for e in entries)
    assert route.call_count == 2
    for call, offset in zip(route.calls, ("0", "2"), strict=True):
        params = [
            ("limit", "2"),
            ("offset", offset),
            ("includeDescendants", "true"),
            ("orderDesc", "false"),
            ("startTime", "2023-11-03T08:00:00Z"),
            ("endTime", "2023-11-10T00:00:00Z"),
            ("types", "300"),
            ("types", "400"),
        ]
        check(call.request, "GET", path, params)


async def test_consumer_reports_without_parameters() -> None:
    """reports() sends GET .../reports without a query (every parameter is optional)."""
    portal = FakePortal()
    path = f"{C}/reports"
    route = portal.route("GET", path, json=listing(path, [REPORT]))
    async with portal.client() as api:
        reports = await api.bunit(22).consumer(408).reports()
    check(only_request(route), "GET", path)
    assert [type(r) for r in reports] == [NodeReport]
    assert reports[0].mega_bytes == 1024.5


async def test_consumer_reports_with_every_parameter() -> None:
    """reports(...) sends startDate and endDate in UTC with Z, and status/warnings flags."""
    portal = FakePortal()
    path = f"{C}/reports"
    route = portal.route("GET", path, json=listing(path, [REPORT]))
    async with portal.client() as api:
        reports = (
            await api.bunit(22)
            .consumer(408)
            .reports(
                start=dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET),
                end=dt.date(2023, 11, 10),
                status=True,
                warnings=False,
            )
        )
    params = [
        ("startDate", "2023-11-03T08:00:00Z"),
        ("endDate", "2023-11-10T00:00:00Z"),
        ("status", "true"),
        ("warnings", "false"),
    ]
    check(only_request(route), "GET", path, params)
    assert reports[0].warnings[0].type is not None
    assert reports[0].warnings[0].type.name == "High storage"


async def test_consumer_latest_report() -> None:
    """latest_report() sends GET .../reports/latest without userId."""
    portal = FakePortal()
    route = portal.route("GET", f"{C}/reports/latest", json=REPORT)
    async with portal.client() as api:
        report = await api.bunit(22).consumer(408).latest_report()
    check(only_request(route), "GET", f"{C}/reports/latest")
    assert isinstance(report, NodeReport)
    assert report.report_date == dt.datetime(2023, 11, 3, tzinfo=UTC)


async def test_consumer_latest_report_for_a_user() -> None:
    """latest_report(7) sends GET .../reports/latest?userId=7."""
    portal = FakePortal()
    route = portal.route("GET", f"{C}/reports/latest", json=REPORT)
    async with portal.client() as api:
        report = await api.bunit(22).consumer(408).latest_report(7)
    check(only_request(route), "GET", f"{C}/reports/latest", [("userId", "7")])
    assert report.id == 77


async def test_consumer_first_job() -> None:
    """first_job() sends GET .../jobs/first and returns a Job."""
    portal = FakePortal()
    route = portal.route("GET", f"{C}/jobs/first", json=FIRST_JOB)
    async with portal.client() as api:
        job = await api.bunit(22).consumer(408).first_job()
    check(only_request(route), "GET", f"{C}/jobs/first")
    assert isinstance(job, Job)
    assert job.completed == dt.datetime(2023, 6, 10, 2, 0, tzinfo=UTC)


async def test_consumer_jobs_without_an_interval() -> None:
    """jobs() sends GET .../jobs without a query (the last 24 hours)."""
    portal = FakePortal()
    first = portal.route("GET", f"{C}/jobs/first", json=FIRST_JOB)
    route = portal.route("GET", f"{C}/jobs", json=listing(f"{C}/jobs", [JOB]))
    async with portal.client() as api:
        jobs = await api.bunit(22).consumer(408).jobs()
    check(only_request(route), "GET", f"{C}/jobs")
    assert first.call_count == 0
    assert [type(j) for j in jobs] == [Job]
    assert jobs[0].duration == dt.timedelta(minutes=12, seconds=30)


async def test_consumer_jobs_in_an_interval() -> None:
    """jobs(start, end) sends GET .../jobs?startTime=&endTime= in UTC with Z (not jobs/first)."""
    portal = FakePortal()
    portal.route("GET", f"{C}/jobs/first", json=FIRST_JOB)
    route = portal.route("GET", f"{C}/jobs", json=listing(f"{C}/jobs", [JOB]))
    async with portal.client() as api:
        jobs = (
            await api.bunit(22)
            .consumer(408)
            .jobs(dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET), dt.date(2023, 11, 4))
        )
    params = [("startTime", "2023-11-03T08:00:00Z"), ("endTime", "2023-11-04T00:00:00Z")]
    check(only_request(route), "GET", f"{C}/jobs", params)
    assert jobs[0].id == 9001


async def test_consumer_jobs_start_is_clamped_to_the_first_job() -> None:
    """A startTime before the first job's completed is raised to it, as the server requires."""
    portal = FakePortal()
    first = portal.route("GET", f"{C}/jobs/first", json=FIRST_JOB)
    route = portal.route("GET", f"{C}/jobs", json=listing(f"{C}/jobs", [JOB]))
    async with portal.client() as api:
        await (
            api.bunit(22)
            .consumer(408)
            .jobs(dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2023, 11, 4, tzinfo=UTC))
        )
    check(only_request(first), "GET", f"{C}/jobs/first")
    params = [("startTime", "2023-06-10T02:00:00Z"), ("endTime", "2023-11-04T00:00:00Z")]
    check(only_request(route), "GET", f"{C}/jobs", params)


# -- nodes --------------------------------------------------------------------------------


async def test_node_get() -> None:
    """node.get() sends GET .../consumers/408/node and returns a Node."""
    portal = FakePortal()
    route = portal.route("GET", N, json=NODE)
    async with portal.client() as api:
        node = await api.bunit(22).consumer(408).node.get()
    check(only_request(route), "GET", N)
    assert isinstance(node, Node)
    assert node.tsm_name == "JENNYSWS"
    assert node.cpu_count == 4


async def test_node_create_with_models_sends_them_by_id() -> None:
    """create() with models POSTs .../node with each related object as {"id": n}."""
    portal = FakePortal()
    portal.route("GET", "nodeoperatingsystems/3", json=OPERATING_SYSTEM)
    portal.route("GET", "nodetypes/1", json=NODE_TYPE)
    path = "bunits/22/defaultserver/domains"
    portal.route("GET", path, json=listing(path, [DOMAIN]))
    path = "bunits/22/defaultserver/clientoptionsets"
    portal.route("GET", path, json=listing(path, [CLIENT_OPTION_SET]))
    route = portal.route("POST", N, status_code=201, json=NODE)
    async with portal.client() as api:
        unit = api.bunit(22)
        (domain,) = await unit.domains()
        (option_set,) = await unit.client_option_sets()
        node = await unit.consumer(408).node.create(
            operating_system=await api.ref(href("nodeoperatingsystems/3")),
            node_type=await api.ref(href("nodetypes/1")),
            domain=domain,
            client_option_set=option_set,
            contact="jenny@example.com",
            cpu_count=4,
        )
    body = {
        "operatingSystem": {"id": 3},
        "type": {"id": 1},
        "domain": {"id": 1},
        "clientOptionSet": {"id": 2},
        "contact": "jenny@example.com",
        "cpuCount": 4,
    }
    check(only_request(route), "POST", N, body=body)
    assert isinstance(node, Node)
    assert node.id == 512


async def test_node_create_with_ids() -> None:
    """create() with plain ids sends the same body, without unset optional fields."""
    portal = FakePortal()
    route = portal.route("POST", N, status_code=201, json=NODE)
    async with portal.client() as api:
        node = (
            await api.bunit(22)
            .consumer(408)
            .node.create(operating_system=3, node_type=1, domain=1, client_option_set=2)
        )
    body = {
        "operatingSystem": {"id": 3},
        "type": {"id": 1},
        "domain": {"id": 1},
        "clientOptionSet": {"id": 2},
    }
    check(only_request(route), "POST", N, body=body)
    assert node.domain is not None
    assert node.domain.name == "STANDARD"


async def test_node_update_puts_every_field_back_with_the_change() -> None:
    """update() sends PUT .../node with the whole node as received, contact changed."""
    portal = FakePortal()
    portal.route("GET", N, json=NODE)
    route = portal.route("PUT", N, json={**NODE, "contact": "it@example.com"})
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408).node
        node = await ref
        updated = await ref.update(attrs.evolve(node, contact="it@example.com"))
    check(only_request(route), "PUT", N, body={**NODE, "contact": "it@example.com"})
    assert isinstance(updated, Node)
    assert updated.contact == "it@example.com"


async def test_node_delete() -> None:
    """delete() sends DELETE .../node with no body and no query."""
    portal = FakePortal()
    route = portal.route("DELETE", N, status_code=204)
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).node.delete() is None
    check(only_request(route), "DELETE", N)


async def test_node_set_password() -> None:
    """set_password() POSTs .../node/password with exactly {"tsmPassword": ...}."""
    portal = FakePortal()
    route = portal.route("POST", f"{N}/password", json=NODE)
    async with portal.client() as api:
        node = await api.bunit(22).consumer(408).node.set_password("n3w-Pa55word")
    check(only_request(route), "POST", f"{N}/password", body={"tsmPassword": "n3w-Pa55word"})
    assert isinstance(node, Node)


async def test_node_suggested_name() -> None:
    """suggested_name() sends GET .../node/spname and returns the bare JSON string."""
    portal = FakePortal()
    route = portal.route("GET", f"{N}/spname", json="COMPANYAB_JENNYSWS")
    async with portal.client() as api:
        name = await api.bunit(22).consumer(408).node.suggested_name()
    check(only_request(route), "GET", f"{N}/spname")
    assert name == "COMPANYAB_JENNYSWS"


async def test_node_activate() -> None:
    """activate() sends GET .../node/activate?tsmName= and returns the bare JSON string."""
    portal = FakePortal()
    route = portal.route("GET", f"{N}/activate", json="Node JENNYSWS activated")
    async with portal.client() as api:
        answer = await api.bunit(22).consumer(408).node.activate("JENNYSWS")
    check(only_request(route), "GET", f"{N}/activate", [("tsmName", "JENNYSWS")])
    assert answer == "Node JENNYSWS activated"


@pytest.mark.parametrize(("tsm_sync", "flag"), [(False, "false"), (True, "true")])
async def test_node_filespaces(tsm_sync: bool, flag: str) -> None:
    """filespaces() sends GET .../node/filespaces?tsmSync=true|false."""
    portal = FakePortal()
    path = f"{N}/filespaces"
    route = portal.route("GET", path, json=listing(path, [FILESPACE]))
    async with portal.client() as api:
        spaces = await api.bunit(22).consumer(408).node.filespaces(tsm_sync=tsm_sync)
    check(only_request(route), "GET", path, [("tsmSync", flag)])
    assert [type(s) for s in spaces] == [Filespace]
    assert spaces[0].capacity_mega_bytes == 476000.0


async def test_node_possible_proxy_nodes() -> None:
    """possible_proxy_nodes() sends GET .../node/possibleproxynodes and returns Nodes."""
    portal = FakePortal()
    path = f"{N}/possibleproxynodes"
    other = {**NODE, "href": href("bunits/22/consumers/409/node"), "tsmName": "FILESRV", "id": 513}
    route = portal.route("GET", path, json=listing(path, [other]))
    async with portal.client() as api:
        nodes = await api.bunit(22).consumer(408).node.possible_proxy_nodes()
    check(only_request(route), "GET", path)
    assert [type(n) for n in nodes] == [Node]
    assert nodes[0].tsm_name == "FILESRV"


async def test_node_add_proxy_agent() -> None:
    """add_proxy_agent(409) POSTs .../node/proxyagents?proxyAgentId=409."""
    portal = FakePortal()
    route = portal.route("POST", f"{N}/proxyagents", json=NODE)
    async with portal.client() as api:
        node = await api.bunit(22).consumer(408).node.add_proxy_agent(409)
    check(only_request(route), "POST", f"{N}/proxyagents", [("proxyAgentId", "409")])
    assert isinstance(node, Node)


async def test_node_add_proxy_target() -> None:
    """add_proxy_target(409) POSTs .../node/proxytargets?proxyTargetId=409."""
    portal = FakePortal()
    route = portal.route("POST", f"{N}/proxytargets", json=NODE)
    async with portal.client() as api:
        node = await api.bunit(22).consumer(408).node.add_proxy_target(409)
    check(only_request(route), "POST", f"{N}/proxytargets", [("proxyTargetId", "409")])
    assert isinstance(node, Node)


async def test_node_remove_proxy_agent() -> None:
    """remove_proxy_agent(409) sends DELETE .../node/proxyagents/409."""
    portal = FakePortal()
    route = portal.route("DELETE", f"{N}/proxyagents/409", status_code=204)
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).node.remove_proxy_agent(409) is None
    check(only_request(route), "DELETE", f"{N}/proxyagents/409")


async def test_node_remove_proxy_target() -> None:
    """remove_proxy_target(409) sends DELETE .../node/proxytargets/409."""
    portal = FakePortal()
    route = portal.route("DELETE", f"{N}/proxytargets/409", status_code=204)
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).node.remove_proxy_target(409) is None
    check(only_request(route), "DELETE", f"{N}/proxytargets/409")


# -- following links ----------------------------------------------------------------------

# (path, proxy class, model of a ResourceRef/CollectionRef, model the fetch returns)
REF_KINDS: list[tuple[str, type[Any], type[Any] | None, type[Any]]] = [
    ("bunits/22", BusinessUnitRef, None, BusinessUnit),
    ("bunits/22/bunits", CollectionRef, BusinessUnit, BusinessUnit),
    ("bunits/22/ancestors", CollectionRef, BusinessUnit, BusinessUnit),
    ("bunits/22/users", CollectionRef, User, User),
    ("bunits/22/addresses", CollectionRef, Address, Address),
    ("bunits/22/consumers", CollectionRef, Consumer, Consumer),
    (C, ConsumerRef, None, Consumer),
    (N, NodeRef, None, Node),
    (f"{N}/filespaces", CollectionRef, Filespace, Filespace),
    (f"{N}/filespaces/31", ResourceRef, Filespace, Filespace),
    (f"{N}/possibleproxynodes", CollectionRef, Node, Node),
    (f"{C}/auditlogs", CollectionRef, AuditLogEntry, AuditLogEntry),
    (f"{C}/auditlogs/1", ResourceRef, AuditLogEntry, AuditLogEntry),
    (f"{C}/reports", CollectionRef, NodeReport, NodeReport),
    (f"{C}/reports/latest", ResourceRef, NodeReport, NodeReport),
    (f"{C}/jobs", CollectionRef, Job, Job),
    (f"{C}/jobs/first", ResourceRef, Job, Job),
    (f"{C}/jobs/9001", ResourceRef, Job, Job),
    ("bunits/22/defaultserver", ResourceRef, BackupServer, BackupServer),
    ("bunits/22/defaultserver/domains", CollectionRef, Domain, Domain),
    ("bunits/22/defaultserver/domains/1", ResourceRef, Domain, Domain),
    ("bunits/22/defaultserver/clientoptionsets", CollectionRef, ClientOptionSet, ClientOptionSet),
    ("bunits/22/defaultserver/clientoptionsets/2", ResourceRef, ClientOptionSet, ClientOptionSet),
    ("bunits/22/contract", ResourceRef, Contract, Contract),
    ("bunits/22/invoices", CollectionRef, Invoice, Invoice),
    ("bunits/22/invoices/2023-11-01", ResourceRef, Invoice, Invoice),
    ("bunits/22/invoicefiles", CollectionRef, InvoiceFile, InvoiceFile),
    ("bunits/22/billing", CollectionRef, BillingData, BillingData),
    ("bunits/22/billing/2023-11-01", ResourceRef, BillingData, BillingData),
    ("bunits/22/users/7", ResourceRef, User, User),
    ("me", ResourceRef, User, User),
    ("timezones", CollectionRef, TimeZone, TimeZone),
    ("timezones/4", TimeZoneRef, None, TimeZone),
    ("nodeoperatingsystems", CollectionRef, NodeOperatingSystem, NodeOperatingSystem),
    ("nodeoperatingsystems/3", ResourceRef, NodeOperatingSystem, NodeOperatingSystem),
    ("nodetypes", CollectionRef, NodeType, NodeType),
    ("nodetypes/1", ResourceRef, NodeType, NodeType),
    ("nodewarningtypes", CollectionRef, NodeWarningType, NodeWarningType),
    ("nodewarningtypes/2", ResourceRef, NodeWarningType, NodeWarningType),
]


@pytest.mark.parametrize(
    ("path", "proxy", "model", "result"), REF_KINDS, ids=[kind[0] for kind in REF_KINDS]
)
async def test_ref_follows_an_href_of_each_route_kind(
    path: str, proxy: type[Any], model: type[Any] | None, result: type[Any]
) -> None:
    """api.ref(href) gives the route's proxy, and fetching it GETs exactly that href."""
    portal = FakePortal()
    item = {"href": href(path), "name": "x", "id": 1}
    is_collection = proxy is CollectionRef
    route = portal.route("GET", path, json=listing(path, [item]) if is_collection else item)
    async with portal.client() as api:
        ref = api.ref(href(path))
        assert type(ref) is proxy
        assert ref.href == href(path)
        if model is not None:
            assert ref.model is model
        fetched = await ref.list() if is_collection else await ref.get()
    check(only_request(route), "GET", path)
    if is_collection:
        assert [type(member) for member in fetched] == [result]
    else:
        assert isinstance(fetched, result)
        assert fetched.id == 1


async def test_ref_accepts_an_href_relative_to_base_url() -> None:
    """A relative href resolves under base_url, like the absolute one."""
    portal = FakePortal()
    async with portal.client() as api:
        assert api.ref("bunits/22/consumers/408") == api.bunit(22).consumer(408)
        assert api.ref("/v1/timezones/4") == api.timezone(4)


async def test_ref_accepts_the_default_port_and_any_case_of_scheme_and_host() -> None:
    """:443 and an upper-case scheme or host are the same origin as base_url."""
    portal = FakePortal()
    async with portal.client() as api:
        assert api.ref("https://portal.test:443/v1/bunits/22") == api.bunit(22)
        assert api.ref("HTTPS://PORTAL.TEST/v1/bunits/22") == api.bunit(22)


async def test_ref_of_an_embedded_partial_business_unit_fetches_the_full_one() -> None:
    """ref(consumer.business_unit).get() GETs bunits/22 and returns the full unit."""
    portal = FakePortal()
    portal.route("GET", C, json=CONSUMER)
    route = portal.route("GET", "bunits/22", json=BUSINESS_UNIT)
    async with portal.client() as api:
        consumer = await api.bunit(22).consumer(408)
        assert consumer.business_unit is not None
        assert consumer.business_unit.time_zone is None  # partial
        ref = api.ref(consumer.business_unit)
        assert ref == api.bunit(22)
        unit = await ref.get()
    check(only_request(route), "GET", "bunits/22")
    assert isinstance(unit, BusinessUnit)
    assert unit.time_zone is not None
    assert unit.time_zone.id == 4


async def test_ref_of_an_embedded_collection_stub_lists_its_href() -> None:
    """ref(bu.users).list() GETs the stub's href and returns its real members."""
    portal = FakePortal()
    portal.route("GET", "bunits/22", json=BUSINESS_UNIT)
    route = portal.route("GET", "bunits/22/users", json=listing("bunits/22/users", [USER]))
    async with portal.client() as api:
        unit = await api.bunit(22)
        assert unit.users is not None
        assert unit.users.items == ()  # an empty stub
        users = await api.ref(unit.users).list()
    check(only_request(route), "GET", "bunits/22/users")
    assert [type(u) for u in users] == [User]
    assert users[0].id == 7


async def test_ref_of_a_model_follows_its_href() -> None:
    """ref(consumer) gives the ConsumerRef of its href; get() GETs it."""
    portal = FakePortal()
    route = portal.route("GET", C, json=CONSUMER)
    async with portal.client() as api:
        consumer = await api.bunit(22).consumer(408)
        ref = api.ref(consumer)
        assert isinstance(ref, ConsumerRef)
        assert (ref.bunit_id, ref.id) == (22, 408)
        again = await ref.get()
    assert route.call_count == 2
    check(route.calls.last.request, "GET", C)
    assert isinstance(again, Consumer)
    assert again.id == 408


async def test_ref_of_a_tree_node_follows_its_id() -> None:
    """ref(SimpleBusinessUnit) (no href) gives the BusinessUnitRef of its id."""
    portal = FakePortal()
    portal.route("GET", "bunits", json=TREE)
    route = portal.route("GET", "bunits/76", json={**CHILD_UNIT, "timeZone": TIME_ZONE})
    async with portal.client() as api:
        tree = await api.bunit_tree()
        ref = api.ref(tree.business_units[0])
        assert ref == api.bunit(76)
        unit = await ref.get()
    check(only_request(route), "GET", "bunits/76")
    assert unit.name == "Marketing Department"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/v1/bunits/1",
        "//evil.example/v1/bunits/1",
        "http://portal.test/v1/bunits/1",
        "https://portal.test:8443/v1/bunits/1",
        "https://portal.test/v2/bunits/1",
        "https://portal.test/bunits/1",
        "https://portal.test/oauth",
        "https://portal.test/v1/../oauth",
        "/v2/bunits/1",
    ],
)
async def test_ref_outside_the_api_raises_before_any_request(target: str) -> None:
    """An href on another host, scheme or port, or outside /v1/, raises ValidationError."""
    portal = FakePortal()
    catch_all = portal.router.route().respond(200, json={"id": 1})
    async with portal.client() as api:
        before = portal.router.calls.call_count
        with pytest.raises(ValidationError):
            api.ref(target)
        assert portal.router.calls.call_count == before
    assert catch_all.call_count == 0


async def test_ref_of_a_model_with_a_foreign_href_raises_before_any_request() -> None:
    """A model whose href points elsewhere cannot be followed."""
    portal = FakePortal()
    portal.route("GET", C, json={**CONSUMER, "href": "https://evil.example/v1/" + C})
    async with portal.client() as api:
        consumer = await api.bunit(22).consumer(408)
        before = portal.router.calls.call_count
        with pytest.raises(ValidationError):
            api.ref(consumer)
        assert portal.router.calls.call_count == before


async def test_invoke_of_an_action_on_another_host_raises_before_any_request() -> None:
    """invoke() refuses an action whose href is outside the API, sending nothing."""
    portal = FakePortal()
    action = APIEndpoint(
        name="Calculate UTC offset",
        method="GET",
        href="https://evil.example/v1/timezones/4/offset?date",
    )
    async with portal.client() as api:
        before = portal.router.calls.call_count
        with pytest.raises(ValidationError):
            await api.invoke(action, date=dt.date(2023, 11, 3))
        assert portal.router.calls.call_count == before
