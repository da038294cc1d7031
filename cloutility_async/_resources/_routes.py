"""Follow any href: parse it against the API's routes into the matching proxy."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from .._exceptions import ValidationError
from .._models import (
    Address,
    AuditLogEntry,
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
    TimeZone,
    User,
)
from ._base import CollectionRef, Ref, ResourceRef
from .business_units import BusinessUnitRef
from .catalog import TimeZoneRef
from .consumers import ConsumerRef
from .nodes import NodeRef

if TYPE_CHECKING:
    from .._client import Cloutility

__all__ = ["ref_for_url"]

_ID = r"(\d+)"
_DATE = r"(\d{4}-\d{2}-\d{2})"
_C = rf"bunits/{_ID}/consumers/{_ID}"

Factory = Callable[["Cloutility", httpx.URL, tuple[str, ...]], Ref]


def _single(model: type[Any]) -> Factory:
    return lambda api, url, _: ResourceRef(api, url, model)


def _many(model: type[Any]) -> Factory:
    return lambda api, url, _: CollectionRef(api, url, model)


_ROUTES: list[tuple[re.Pattern[str], Factory]] = [
    (re.compile(pattern), factory)
    for pattern, factory in [
        (rf"bunits/{_ID}", lambda api, _, g: BusinessUnitRef(api, g[0])),
        (rf"bunits/{_ID}/(?:bunits|ancestors)", _many(BusinessUnit)),
        (rf"bunits/{_ID}/users", _many(User)),
        (rf"bunits/{_ID}/users/{_ID}", _single(User)),
        (rf"bunits/{_ID}/addresses", _many(Address)),
        (rf"bunits/{_ID}/consumers", _many(Consumer)),
        (_C, lambda api, _, g: ConsumerRef(api, g[0], g[1])),
        (rf"{_C}/node", lambda api, _, g: NodeRef(api, g[0], g[1])),
        (rf"{_C}/node/filespaces", _many(Filespace)),
        (rf"{_C}/node/filespaces/{_ID}", _single(Filespace)),
        (rf"{_C}/node/possibleproxynodes", _many(Node)),
        (rf"{_C}/auditlogs", _many(AuditLogEntry)),
        (rf"{_C}/auditlogs/{_ID}", _single(AuditLogEntry)),
        (rf"{_C}/reports", _many(NodeReport)),
        (rf"{_C}/reports/(?:latest|{_ID})", _single(NodeReport)),
        (rf"{_C}/jobs", _many(Job)),
        (rf"{_C}/jobs/(?:first|{_ID})", _single(Job)),
        (rf"bunits/{_ID}/defaultserver", _single(BackupServer)),
        (rf"bunits/{_ID}/defaultserver/domains", _many(Domain)),
        (rf"bunits/{_ID}/defaultserver/domains/{_ID}", _single(Domain)),
        (rf"bunits/{_ID}/defaultserver/clientoptionsets", _many(ClientOptionSet)),
        (rf"bunits/{_ID}/defaultserver/clientoptionsets/{_ID}", _single(ClientOptionSet)),
        (rf"bunits/{_ID}/contract", _single(Contract)),
        (rf"bunits/{_ID}/invoices", _many(Invoice)),
        (rf"bunits/{_ID}/invoices/{_DATE}", _single(Invoice)),
        (rf"bunits/{_ID}/invoicefiles", _many(InvoiceFile)),
        (rf"bunits/{_ID}/billing", _many(BillingData)),
        (rf"bunits/{_ID}/billing/{_DATE}", _single(BillingData)),
        (r"me", _single(User)),
        (r"timezones", _many(TimeZone)),
        (rf"timezones/{_ID}", lambda api, _, g: TimeZoneRef(api, g[0])),
        (r"nodeoperatingsystems", _many(NodeOperatingSystem)),
        (rf"nodeoperatingsystems/{_ID}", _single(NodeOperatingSystem)),
        (r"nodetypes", _many(NodeType)),
        (rf"nodetypes/{_ID}", _single(NodeType)),
        (r"nodewarningtypes", _many(NodeWarningType)),
        (rf"nodewarningtypes/{_ID}", _single(NodeWarningType)),
    ]
]


def ref_for_url(api: Cloutility, url: httpx.URL) -> Ref:
    """The proxy for an absolute URL under ``api.base_url``; ValidationError otherwise."""
    base = api.base_url
    if not api._is_api_url(url) or not url.path.startswith(base.path):
        raise ValidationError(f"{url} is not under the API's base URL {base}")
    relative = url.path[len(base.path) :].strip("/")
    for pattern, factory in _ROUTES:
        match = pattern.fullmatch(relative)
        if match:
            return factory(api, url, tuple(g for g in match.groups() if g is not None))
    raise ValidationError(f"no known route for {url}")
