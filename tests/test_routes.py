"""Every route of the reference: method, path, query, body, and the typed model returned."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest
import respx

from cloutility_async import Cloutility, ValidationError
from cloutility_async import _hypermedia as routes
from cloutility_async._hypermedia import Route
from cloutility_async._models import (
    APIEndpoint,
    AuditLogEntry,
    AuditLogType,
    BusinessUnit,
    ClientOptionSet,
    Consumer,
    Domain,
    Invoice,
    Node,
    NodeOperatingSystem,
    NodeType,
    TimeZone,
    User,
)
from cloutility_async._resources import (
    CollectionRef,
    ConsumerRef,
    NodeRef,
    ResourceRef,
)
from tests.fakeportal import BASE_URL, FakePortal

pytestmark = pytest.mark.anyio

UTC = dt.timezone.utc
CET = dt.timezone(dt.timedelta(hours=1))
NO_BODY = object()
MULTIPART = object()  # a multipart/form-data body (the upload's own tests read it)

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
    elif body is MULTIPART:
        assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
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


# -- one table of cases: each call, the request it sends and the answer it reads ------------

B, CU = 22, 408  # the business unit and consumer every case uses
CONSUMER_IDS = (B, CU)


@attrs.frozen
class Case:
    """A call, the route it must send (at ``ids``), and the answer it reads."""

    id: str
    route: Route[Any]
    call: Callable[[Cloutility], Awaitable[Any]]
    answer: Any = None  # the JSON answered; a list for a list route; None: 204
    ids: tuple[object, ...] = ()
    params: list[tuple[str, str]] = attrs.Factory(list)
    body: Any = NO_BODY
    before: tuple[tuple[Route[Any], tuple[object, ...], Any], ...] = ()  # answered first
    then: Callable[[Any], bool] = lambda _: True  # what the read result must hold

    def answer_kwargs(self) -> dict[str, Any]:
        if self.answer is None:
            return {"status_code": 204}
        if isinstance(self.answer, bytes):
            return {"content": self.answer, "headers": {"Content-Type": "application/pdf"}}
        if self.route.many and isinstance(self.answer, list):
            return {"json": listing(self.route.path(*self.ids), self.answer)}
        return {"json": self.answer, "status_code": 201 if self.route.method == "POST" else 200}


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


async def update_bunit(api: Cloutility) -> BusinessUnit:
    unit = await api.bunit(B).get()
    return await api.bunit(B).update(attrs.evolve(unit, name="Company AB (new)"))


async def update_consumer(api: Cloutility) -> Consumer:
    ref = api.bunit(B).consumer(CU)
    return await ref.update(attrs.evolve(await ref, note="Moved to the lab."))


async def update_node(api: Cloutility) -> Node:
    ref = api.bunit(B).consumer(CU).node
    return await ref.update(attrs.evolve(await ref, contact="it@example.com"))


def consumer(api: Cloutility) -> ConsumerRef:
    return api.bunit(B).consumer(CU)


def node(api: Cloutility) -> NodeRef:
    return api.bunit(B).consumer(CU).node


NEW_CHILD = {"name": "Marketing Department", "registrationNumber": "123456789999"}
NODE_IDS = {"operatingSystem": {"id": 3}, "type": {"id": 1}, "domain": {"id": 1}}
AUDIT_DEFAULTS = [
    ("limit", "100"),
    ("offset", "0"),
    ("includeDescendants", "false"),
    ("orderDesc", "true"),
    *[("types", str(t)) for t in (0, 100, 200, 300, 400)],
]
INTERVAL = [("startTime", "2023-11-03T08:00:00Z"), ("endTime", "2023-11-04T00:00:00Z")]

CASES: list[Case] = [
    # the client's own routes
    Case(
        "full-version",
        routes.FULL_VERSION,
        lambda api: api.full_version(),
        "1.0.4480.0",
        then=lambda v: v == "1.0.4480.0",
    ),
    Case(
        "me",
        routes.ME,
        lambda api: api.me(),
        USER,
        then=lambda u: (
            u.name == "alice"
            and isinstance(u.business_unit, BusinessUnit)
            and u.business_unit.id == 22
        ),
    ),
    Case(
        "bunit-tree",
        routes.BUNIT_TREE,
        lambda api: api.bunit_tree(),
        TREE,
        then=lambda t: (
            [c.id for c in t.business_units] == [76, 94] and t.business_units[1].parent_id == 22
        ),
    ),
    Case(
        "bunit-tree-of-a-root",
        routes.BUNIT_TREE,
        lambda api: api.bunit_tree(76),
        TREE["businessUnits"][0],
        params=[("bunitId", "76")],
        then=lambda t: t.name == "Marketing Department",
    ),
    Case(
        "search-bunits",
        routes.SEARCH_BUNITS,
        lambda api: api.search_bunits("Marketing & Sales"),
        [CHILD_UNIT],
        params=[("searchTerm", "Marketing & Sales")],
        then=lambda f: f[0].id == 76,
    ),
    Case(
        "timezones",
        routes.TIMEZONES,
        lambda api: api.timezones(),
        [TIME_ZONE],
        then=lambda z: z[0].windows_id == "W. Europe Standard Time",
    ),
    Case(
        "timezone",
        routes.TIMEZONE,
        lambda api: api.timezone(4).get(),
        TIME_ZONE,
        ids=(4,),
        then=lambda z: (
            z.id == 4
            and isinstance(z.actions[0], APIEndpoint)
            and z.actions[0].name == "Calculate UTC offset"
        ),
    ),
    Case(
        "utc-offset-of-an-aware-datetime",
        routes.TIMEZONE_OFFSET,
        lambda api: api.timezone(4).utc_offset(dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET)),
        60,
        ids=(4,),
        params=[("date", "2023-11-03T08:00:00Z")],
        then=lambda v: v == 60,
    ),
    Case(
        "utc-offset-of-a-date-is-midnight-utc",
        routes.TIMEZONE_OFFSET,
        lambda api: api.timezone(4).utc_offset(dt.date(2023, 7, 1)),
        120,
        ids=(4,),
        params=[("date", "2023-07-01T00:00:00Z")],
        then=lambda v: v == 120,
    ),
    Case(
        "node-operating-systems",
        routes.OPERATING_SYSTEMS,
        lambda api: api.node_operating_systems(),
        [OPERATING_SYSTEM],
        then=lambda s: s[0].supported_node_types[0].short_name == "FS",
    ),
    Case(
        "node-types",
        routes.NODE_TYPES,
        lambda api: api.node_types(),
        [NODE_TYPE],
        then=lambda t: t[0].name == "File server",
    ),
    Case(
        "node-warning-types",
        routes.WARNING_TYPES,
        lambda api: api.node_warning_types(),
        [WARNING_TYPE],
        then=lambda k: k[0].uses_limit is True,
    ),
    # business units
    Case(
        "bunit-get",
        routes.BUNIT,
        lambda api: api.bunit(B).get(),
        BUSINESS_UNIT,
        ids=(B,),
        then=lambda u: (
            u.name == "Company AB" and isinstance(u.time_zone, TimeZone) and u.time_zone.id == 4
        ),
    ),
    Case(
        "bunit-update-puts-every-field-back",
        routes.BUNIT_UPDATE,
        update_bunit,
        {**BUSINESS_UNIT, "name": "Company AB (new)"},
        ids=(B,),
        body={**BUSINESS_UNIT, "name": "Company AB (new)"},
        before=((routes.BUNIT, (B,), BUSINESS_UNIT),),
        then=lambda u: u.name.endswith("(new)"),
    ),
    Case("bunit-delete", routes.BUNIT_DELETE, lambda api: api.bunit(B).delete(), ids=(B,)),
    Case(
        "bunit-children",
        routes.BUNIT_CHILDREN,
        lambda api: api.bunit(B).children(),
        [CHILD_UNIT],
        ids=(B,),
        then=lambda c: c[0].registration_number == "123456789999",
    ),
    Case(
        "bunit-create-child-with-a-time-zone-model",
        routes.BUNIT_CREATE_CHILD,
        lambda api: api.bunit(B).create_child(
            name="Marketing Department",
            registration_number="123456789999",
            time_zone=TimeZone(id=4),
        ),
        CHILD_UNIT,
        ids=(B,),
        body={**NEW_CHILD, "timeZone": {"id": 4}},
        then=lambda c: c.id == 76,
    ),
    Case(
        "bunit-create-child-with-a-time-zone-id",
        routes.BUNIT_CREATE_CHILD,
        lambda api: api.bunit(B).create_child(
            name="Marketing Department", registration_number="123456789999", time_zone=4
        ),
        CHILD_UNIT,
        ids=(B,),
        body={**NEW_CHILD, "timeZone": {"id": 4}},
    ),
    Case(
        "bunit-create-child-with-only-a-name",
        routes.BUNIT_CREATE_CHILD,
        lambda api: api.bunit(B).create_child(name="Marketing Department"),
        CHILD_UNIT,
        ids=(B,),
        body={"name": "Marketing Department"},
    ),
    Case(
        "bunit-users",
        routes.BUNIT_USERS,
        lambda api: api.bunit(B).users(),
        [USER],
        ids=(B,),
        then=lambda u: u[0].email == "alice@example.com",
    ),
    Case(
        "bunit-consumers",
        routes.BUNIT_CONSUMERS,
        lambda api: api.bunit(B).consumers(),
        [CONSUMER],
        ids=(B,),
        then=lambda c: c[0].name == "JennysWS",
    ),
    Case(
        "bunit-create-consumer-sends-camel-case-keys",
        routes.CONSUMER_CREATE,
        lambda api: api.bunit(B).create_consumer(
            name="JennysWS",
            note="Jenny's workstation.",
            external_reference="CRM-77",
            allow_no_activity=False,
        ),
        CONSUMER,
        ids=(B,),
        body={
            "name": "JennysWS",
            "note": "Jenny's workstation.",
            "externalReference": "CRM-77",
            "allowNoActivity": False,
        },
        then=lambda c: c.id == 408,
    ),
    Case(
        "bunit-create-consumer-with-only-a-name",
        routes.CONSUMER_CREATE,
        lambda api: api.bunit(B).create_consumer(name="LisasWS"),
        CONSUMER,
        ids=(B,),
        body={"name": "LisasWS"},
    ),
    Case(
        "bunit-default-server",
        routes.DEFAULT_SERVER,
        lambda api: api.bunit(B).default_server(),
        SERVER,
        ids=(B,),
        then=lambda s: s.name == "TSM01",
    ),
    Case(
        "bunit-domains",
        routes.DOMAINS,
        lambda api: api.bunit(B).domains(),
        [DOMAIN],
        ids=(B,),
        then=lambda d: d[0].backup_retention == 30,
    ),
    Case(
        "bunit-client-option-sets",
        routes.OPTION_SETS,
        lambda api: api.bunit(B).client_option_sets(),
        [CLIENT_OPTION_SET],
        ids=(B,),
        then=lambda s: s[0].name == "WINDOWS",
    ),
    # billing
    Case(
        "bunit-contract",
        routes.CONTRACT,
        lambda api: api.bunit(B).contract(),
        CONTRACT,
        ids=(B,),
        then=lambda c: c.erp_reference == "ERP-1001" and c.currency.code == "SEK",
    ),
    Case(
        "bunit-invoices",
        routes.INVOICES,
        lambda api: api.bunit(B).invoices(),
        [INVOICE],
        ids=(B,),
        then=lambda i: i[0].lines[0].unit_price == 10.0,
    ),
    Case(
        "bunit-invoice-of-a-date",
        routes.INVOICE,
        lambda api: api.bunit(B).invoice(dt.date(2023, 11, 1)),
        INVOICE,
        ids=(B, "2023-11-01"),
        then=lambda i: i.id == 15,
    ),
    Case(
        "bunit-invoice-of-a-date-string",
        routes.INVOICE,
        lambda api: api.bunit(B).invoice("2023-11-01"),
        INVOICE,
        ids=(B, "2023-11-01"),
    ),
    Case(
        "bunit-invoice-files",
        routes.INVOICE_FILES,
        lambda api: api.bunit(B).invoice_files(),
        [INVOICE_FILE],
        ids=(B,),
        then=lambda f: f[0].file_name == "invoice-2023-11.pdf",
    ),
    Case(
        "bunit-invoice-file-download",
        routes.INVOICE_FILE_CONTENT,
        lambda api: api.bunit(B).download_invoice_file(4),
        b"%PDF-1.4",
        ids=(B, 4),
        then=lambda data: data == b"%PDF-1.4",
    ),
    Case(
        "bunit-invoice-file-upload",
        routes.INVOICE_FILE_UPLOAD,
        lambda api: api.bunit(B).upload_invoice_file(b"%PDF-1.4", filename="nov.pdf"),
        INVOICE_FILE,
        ids=(B,),
        params=[("sendToBillingAddress", "false")],
        body=MULTIPART,
        then=lambda f: f.id == 4,
    ),
    Case(
        "bunit-billing-without-include-next",
        routes.BILLING,
        lambda api: api.bunit(B).billing(),
        [BILLING],
        ids=(B,),
        then=lambda d: d[0].invoice_date_str == "2023-11-01",
    ),
    Case(
        "bunit-billing-with-include-next",
        routes.BILLING,
        lambda api: api.bunit(B).billing(include_next=2),
        [BILLING],
        ids=(B,),
        params=[("includeNext", "2")],
        then=lambda d: d[0].summary[0].total == 1234.5,
    ),
    Case(
        "bunit-billing-for-a-date",
        routes.BILLING_FOR,
        lambda api: api.bunit(B).billing_for(dt.date(2023, 11, 1)),
        BILLING,
        ids=(B, "2023-11-01"),
        then=lambda d: (
            d.invoice_date == dt.datetime(2023, 11, 1, tzinfo=UTC)
            and isinstance(d.invoices[0], Invoice)
        ),
    ),
    Case(
        "bunit-billing-for-a-date-string",
        routes.BILLING_FOR,
        lambda api: api.bunit(B).billing_for("2023-11-01"),
        BILLING,
        ids=(B, "2023-11-01"),
    ),
    # consumers
    Case(
        "consumer-get",
        routes.CONSUMER,
        lambda api: consumer(api).get(),
        CONSUMER,
        ids=CONSUMER_IDS,
        then=lambda c: c.billing_start_date == dt.datetime(2023, 6, 9, tzinfo=UTC),
    ),
    Case(
        "consumer-update-puts-every-field-back",
        routes.CONSUMER_UPDATE,
        update_consumer,
        {**CONSUMER, "note": "Moved to the lab."},
        ids=CONSUMER_IDS,
        body={**CONSUMER, "note": "Moved to the lab."},
        before=((routes.CONSUMER, CONSUMER_IDS, CONSUMER),),
        then=lambda c: c.note == "Moved to the lab.",
    ),
    Case(
        "consumer-delete-keeps-associations-by-default",
        routes.CONSUMER_DELETE,
        lambda api: consumer(api).delete(),
        ids=CONSUMER_IDS,
        params=[("deleteAssociations", "false")],
    ),
    Case(
        "consumer-delete-with-associations-and-comment",
        routes.CONSUMER_DELETE,
        lambda api: consumer(api).delete(delete_associations=True, comment="Replaced"),
        ids=CONSUMER_IDS,
        params=[("deleteAssociations", "true"), ("deletionComment", "Replaced")],
    ),
    Case(
        "consumer-audit-log-defaults",
        routes.AUDIT_LOGS,
        lambda api: collect(consumer(api).audit_log()),
        [AUDIT_ENTRY],
        ids=CONSUMER_IDS,
        params=AUDIT_DEFAULTS,
        then=lambda e: e[0].type is AuditLogType.CREATE,
    ),
    Case(
        "consumer-reports",
        routes.REPORTS,
        lambda api: consumer(api).reports(),
        [REPORT],
        ids=CONSUMER_IDS,
        then=lambda r: r[0].mega_bytes == 1024.5,
    ),
    Case(
        "consumer-reports-with-every-parameter",
        routes.REPORTS,
        lambda api: consumer(api).reports(
            start=dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET),
            end=dt.date(2023, 11, 10),
            status=True,
            warnings=False,
        ),
        [REPORT],
        ids=CONSUMER_IDS,
        params=[
            ("startDate", "2023-11-03T08:00:00Z"),
            ("endDate", "2023-11-10T00:00:00Z"),
            ("status", "true"),
            ("warnings", "false"),
        ],
        then=lambda r: r[0].warnings[0].type.name == "High storage",
    ),
    Case(
        "consumer-latest-report",
        routes.REPORT_LATEST,
        lambda api: consumer(api).latest_report(),
        REPORT,
        ids=CONSUMER_IDS,
        then=lambda r: r.report_date == dt.datetime(2023, 11, 3, tzinfo=UTC),
    ),
    Case(
        "consumer-latest-report-for-a-user",
        routes.REPORT_LATEST,
        lambda api: consumer(api).latest_report(7),
        REPORT,
        ids=CONSUMER_IDS,
        params=[("userId", "7")],
        then=lambda r: r.id == 77,
    ),
    Case(
        "consumer-first-job",
        routes.FIRST_JOB,
        lambda api: consumer(api).first_job(),
        FIRST_JOB,
        ids=CONSUMER_IDS,
        then=lambda j: j.completed == dt.datetime(2023, 6, 10, 2, tzinfo=UTC),
    ),
    Case(
        "consumer-jobs-without-an-interval-asks-no-first-job",
        routes.JOBS,
        lambda api: consumer(api).jobs(),
        [JOB],
        ids=CONSUMER_IDS,
        then=lambda j: j[0].duration == dt.timedelta(minutes=12, seconds=30),
    ),
    Case(
        "consumer-jobs-in-an-interval",
        routes.JOBS,
        lambda api: consumer(api).jobs(
            dt.datetime(2023, 11, 3, 9, 0, tzinfo=CET), dt.date(2023, 11, 4)
        ),
        [JOB],
        ids=CONSUMER_IDS,
        params=INTERVAL,
        before=((routes.FIRST_JOB, CONSUMER_IDS, FIRST_JOB),),
        then=lambda j: j[0].id == 9001,
    ),
    Case(
        "consumer-jobs-start-is-clamped-to-the-first-job",
        routes.JOBS,
        lambda api: consumer(api).jobs(
            dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2023, 11, 4, tzinfo=UTC)
        ),
        [JOB],
        ids=CONSUMER_IDS,
        params=[("startTime", "2023-06-10T02:00:00Z"), ("endTime", "2023-11-04T00:00:00Z")],
        before=((routes.FIRST_JOB, CONSUMER_IDS, FIRST_JOB),),
    ),
    # nodes
    Case(
        "node-get",
        routes.NODE,
        lambda api: node(api).get(),
        NODE,
        ids=CONSUMER_IDS,
        then=lambda n: n.tsm_name == "JENNYSWS" and n.cpu_count == 4,
    ),
    Case(
        "node-create-with-models-sends-them-by-id",
        routes.NODE_CREATE,
        lambda api: node(api).create(
            operating_system=NodeOperatingSystem(id=3),
            node_type=NodeType(id=1),
            domain=Domain(id=1),
            client_option_set=ClientOptionSet(id=2),
            contact="jenny@example.com",
            cpu_count=4,
        ),
        NODE,
        ids=CONSUMER_IDS,
        body={
            **NODE_IDS,
            "clientOptionSet": {"id": 2},
            "contact": "jenny@example.com",
            "cpuCount": 4,
        },
        then=lambda n: n.id == 512,
    ),
    Case(
        "node-create-with-ids",
        routes.NODE_CREATE,
        lambda api: node(api).create(
            operating_system=3, node_type=1, domain=1, client_option_set=2
        ),
        NODE,
        ids=CONSUMER_IDS,
        body={**NODE_IDS, "clientOptionSet": {"id": 2}},
        then=lambda n: n.domain.name == "STANDARD",
    ),
    Case(
        "node-update-puts-every-field-back",
        routes.NODE_UPDATE,
        update_node,
        {**NODE, "contact": "it@example.com"},
        ids=CONSUMER_IDS,
        body={**NODE, "contact": "it@example.com"},
        before=((routes.NODE, CONSUMER_IDS, NODE),),
        then=lambda n: n.contact == "it@example.com",
    ),
    Case("node-delete", routes.NODE_DELETE, lambda api: node(api).delete(), ids=CONSUMER_IDS),
    Case(
        "node-set-password",
        routes.NODE_PASSWORD,
        lambda api: node(api).set_password("n3w-Pa55"),
        NODE,
        ids=CONSUMER_IDS,
        body={"tsmPassword": "n3w-Pa55"},
    ),
    Case(
        "node-suggested-name",
        routes.NODE_SUGGESTED_NAME,
        lambda api: node(api).suggested_name(),
        "COMPANYAB_JENNYSWS",
        ids=CONSUMER_IDS,
        then=lambda name: name == "COMPANYAB_JENNYSWS",
    ),
    Case(
        "node-activate",
        routes.NODE_ACTIVATE,
        lambda api: node(api).activate("JENNYSWS"),
        "Node JENNYSWS activated",
        ids=CONSUMER_IDS,
        params=[("tsmName", "JENNYSWS")],
        then=lambda answer: answer == "Node JENNYSWS activated",
    ),
    Case(
        "node-filespaces",
        routes.FILESPACES,
        lambda api: node(api).filespaces(),
        [FILESPACE],
        ids=CONSUMER_IDS,
        params=[("tsmSync", "false")],
        then=lambda s: s[0].capacity_mega_bytes == 476000.0,
    ),
    Case(
        "node-filespaces-synced",
        routes.FILESPACES,
        lambda api: node(api).filespaces(tsm_sync=True),
        [FILESPACE],
        ids=CONSUMER_IDS,
        params=[("tsmSync", "true")],
    ),
    Case(
        "node-possible-proxy-nodes",
        routes.PROXY_NODES,
        lambda api: node(api).possible_proxy_nodes(),
        [{**NODE, "tsmName": "FILESRV"}],
        ids=CONSUMER_IDS,
        then=lambda n: n[0].tsm_name == "FILESRV",
    ),
    Case(
        "node-add-proxy-agent",
        routes.PROXY_AGENT_ADD,
        lambda api: node(api).add_proxy_agent(409),
        NODE,
        ids=CONSUMER_IDS,
        params=[("proxyAgentId", "409")],
    ),
    Case(
        "node-add-proxy-target",
        routes.PROXY_TARGET_ADD,
        lambda api: node(api).add_proxy_target(409),
        NODE,
        ids=CONSUMER_IDS,
        params=[("proxyTargetId", "409")],
    ),
    Case(
        "node-remove-proxy-agent",
        routes.PROXY_AGENT_REMOVE,
        lambda api: node(api).remove_proxy_agent(409),
        ids=(*CONSUMER_IDS, 409),
    ),
    Case(
        "node-remove-proxy-target",
        routes.PROXY_TARGET_REMOVE,
        lambda api: node(api).remove_proxy_target(409),
        ids=(*CONSUMER_IDS, 409),
    ),
]


def reads_as_declared(result: Any, route: Route[Any]) -> bool:
    """The result has the type the route's table entry declares."""
    if route.many:
        return isinstance(result, list) and all(isinstance(x, route.model) for x in result)
    if route.model is routes.NO_BODY:
        return result is None
    return route.model is object or isinstance(result, route.model)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_each_call_sends_its_route_and_reads_its_answer(case: Case) -> None:
    """The call sends exactly its route's method, path, query and body, and reads the answer."""
    portal = FakePortal()
    for route, ids, answer in case.before:
        portal.route(route.method, route.path(*ids), json=answer)
    path = case.route.path(*case.ids)
    mocked = portal.route(case.route.method, path, **case.answer_kwargs())
    async with portal.client() as api:
        result = await case.call(api)
    check(only_request(mocked), case.route.method, path, case.params, case.body)
    assert reads_as_declared(result, case.route)
    assert case.then(result)


def test_every_route_of_the_table_is_called_or_followed() -> None:
    """No route is declared without a case: a call sends it, or ref() follows it."""
    called = {case.route for case in CASES}
    followed = {route for route in routes.ROUTES if route.follow is not None}
    assert [r.template for r in routes.ROUTES if r not in called | followed] == []


def test_each_route_is_declared_once() -> None:
    """A (method, template) pair appears once in the table."""
    keys = [(route.method, route.template) for route in routes.ROUTES]
    assert len(keys) == len(set(keys))


# -- calls with more than one request -------------------------------------------------


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


# -- following links ----------------------------------------------------------------------

SAMPLE = {"bunit": "22", "consumer": "408", "date": "2023-11-01"}
FOLLOWED = [route for route in routes.ROUTES if route.follow is not None]


def sample_path(route: Route[Any]) -> str:
    names = re.findall(r"\{(\w+)\}", route.template)
    return route.path(*(SAMPLE.get(name, "1") for name in names))


@pytest.mark.parametrize("route", FOLLOWED, ids=[sample_path(route) for route in FOLLOWED])
async def test_ref_follows_an_href_of_each_followable_route(route: Route[Any]) -> None:
    """api.ref(href) gives the route's proxy, and fetching it GETs exactly that href."""
    assert route.follow is not None
    portal = FakePortal()
    path = sample_path(route)
    item = {"href": href(path), "name": "x", "id": 1}
    mocked = portal.route("GET", path, json=listing(path, [item]) if route.many else item)
    async with portal.client() as api:
        ref = api.ref(href(path))
        assert type(ref).__name__ == route.follow.value
        assert ref.href == href(path)
        if isinstance(ref, (ResourceRef, CollectionRef)):
            assert ref.model is route.model
        fetched = await ref.list() if isinstance(ref, CollectionRef) else await ref.get()
    check(only_request(mocked), "GET", path)
    assert reads_as_declared(fetched, route)
    assert (fetched[0] if route.many else fetched).id == 1


async def test_ref_follows_users_by_the_href_the_portal_writes() -> None:
    """bunits/{b}/users/{u} is followed to a User; the invented users/{id} is no route."""
    portal = FakePortal()
    async with portal.client() as api:
        ref = api.ref(href("bunits/22/users/7"))
        assert isinstance(ref, ResourceRef)
        assert ref.model is User
        with pytest.raises(ValidationError, match="no known route"):
            api.ref(href("users/7"))


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


@pytest.mark.parametrize("base_url", ["https://portal.example/v1/", "http://127.0.0.1:8080/api/v1"])
def test_urls_built_from_the_base_are_the_urls_httpx_parses(base_url: str) -> None:
    """A URL built from the base's parts (no parsing) is httpx's parse: text and repr alike."""
    base = routes.Base(httpx.URL(base_url))
    assert routes._FAST  # the first Base checks the fast path (since import no longer does)
    for path, params in [("bunits/22/consumers/408", None), ("me", {"a": "b c", "n": 2})]:
        built = routes.with_params(base.at(path), params)
        parsed = httpx.URL(base.text + path, params=params)
        assert str(built) == str(parsed)
        assert built == parsed
        assert built._uri_reference == parsed._uri_reference
        assert repr(built) == repr(parsed)


def test_a_proxy_builds_its_href_when_first_read() -> None:
    """A proxy made by ids builds its href on use; it is the URL of its route."""
    api = Cloutility(
        base_url=BASE_URL, client_id="c", origin="https://o.example", username="u", password="p"
    )
    ref = api.bunit(22).consumer("408")
    assert ref._href is None
    assert ref.href == httpx.URL(BASE_URL).join("bunits/22/consumers/408")
    assert ref.href is ref.href
    assert ref._url(routes.CONSUMER) is ref.href
    assert str(ref._url(routes.JOBS)) == str(ref.href) + "/jobs"
