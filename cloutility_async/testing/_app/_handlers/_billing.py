"""Contracts, invoices (JSON and CSV), invoice files, billing data."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from urllib.parse import quote

from ..._errors import ApiError
from ..._formats import UTC, fmt_ms, fmt_s, parse_date
from ..._world import BusinessUnit, World
from ..._world._catalog import (
    CATALOG_DATE,
    CURRENCY,
    PRODUCTS,
)
from .._context import Ctx
from .._multipart import parse_multipart_file
from .._render import (
    listing,
    render_bu_tiny,
    render_invoice_file,
)
from .._responses import CT_CSV, JSON, Response, ok
from .._router import RouteSpec


def _contract_components(bu: BusinessUnit, start: str, created: str) -> list[JSON]:
    """The two priced components of a business unit's one subscription."""
    return [
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
                "createdDate": CATALOG_DATE,
            },
            "replicationType": 0,
            "id": bu.id * 10 + k,
            "createdDate": created,
        }
        for k, (pid, name, price) in enumerate(PRODUCTS[:2])
    ]


def contract(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    created = bu.raw.get("createdDate") or "2023-06-10T11:10:11.321Z"
    start = str(created)[:10] + "T00:00:00Z"
    components = _contract_components(bu, start, created)
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
            "createdDate": CATALOG_DATE,
            "months": 1,
        },
        "paymentTerms": {
            "name": "30 days net",
            "code": "30",
            "id": 1,
            "createdDate": CATALOG_DATE,
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
    world: World,
    base: str,
    bu: BusinessUnit,
    month: date,
    index: int,
    *,
    full: bool,
    forecast: bool = False,
) -> JSON:
    date_str = month.isoformat()
    out: JSON = {"href": f"{base}bunits/{bu.id}/invoices/{date_str}"}
    out["payingBusinessUnit"] = render_bu_tiny(base, bu)
    if full:
        out["lines"] = world.invoice_lines(bu.id, month, forecast=forecast)
    out["id"] = bu.id * 100 + index
    out["createdDate"] = fmt_ms(
        datetime.combine(month, datetime.min.time(), UTC) + timedelta(hours=3)
    )
    return out


def invoices(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    months = ctx.world.invoice_dates()
    if ctx.wants_csv():
        return _csv([(m, bu, ctx.world.invoice_lines(bu.id, m)) for m in months])
    items = [_invoice(ctx.world, ctx.base, bu, m, i, full=False) for i, m in enumerate(months)]
    return ok(listing(ctx.url, items))


def _month_param(ctx: Ctx, index: int) -> date:
    raw = ctx.params[index]
    try:
        return parse_date(raw)
    except ValueError:
        raise ApiError(400, f"'{raw}' is not a YYYY-MM-DD date.") from None


def invoice(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    month = _month_param(ctx, 1)
    months = ctx.world.invoice_dates()
    if month not in months:
        raise ApiError(404, f"No invoice for {month.isoformat()}.")
    if ctx.wants_csv():
        return _csv([(month, bu, ctx.world.invoice_lines(bu.id, month))])
    return ok(_invoice(ctx.world, ctx.base, bu, month, months.index(month), full=True))


def _csv(rows: list[tuple[date, BusinessUnit, list[JSON]]]) -> Response:
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
    return Response(200, out.getvalue().encode("utf-8"), CT_CSV)


def invoice_files(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    files = ctx.world.invoice_files.get(bu.id, [])
    return ok(listing(ctx.url, [render_invoice_file(ctx.base, f) for f in files]))


def invoice_file_upload(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    erp = ctx.q("erpReference")
    send_to_billing = ctx.q_bool("sendToBillingAddress")
    name, ctype, data = parse_multipart_file(ctx.body, ctx.content_type.decode("latin-1"))
    record = ctx.world.add_invoice_file(bu, name, ctype, data, erp or None, send_to_billing)
    ctx.stats.creates["invoicefile:" + name] += 1
    return ok(render_invoice_file(ctx.base, record))


def invoice_file(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    fid = ctx.int_param(1)
    for f in ctx.world.invoice_files.get(bu.id, []):
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
    world: World,
    base: str,
    bu: BusinessUnit,
    month: date,
    index: int,
    *,
    forecast: bool,
    use_forecasting: bool,
) -> JSON:
    payers = [world.bunits[b] for b in bu.children] or [bu]
    invoices = []
    total = 0.0
    for payer in payers:
        inv = _invoice(
            world, base, payer, month, index, full=True, forecast=forecast and use_forecasting
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


def billing(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    include_next = ctx.q_int("includeNext", 0)
    assert include_next is not None
    if include_next > 24:
        raise ApiError(400, "includeNext must be at most 24.")
    use_forecasting = ctx.q_bool("useForecasting", True)
    past = ctx.world.invoice_dates()
    future = ctx.world.future_months(include_next)
    items = [
        _billing_data(
            ctx.world, ctx.base, bu, m, 100 + i, forecast=True, use_forecasting=use_forecasting
        )
        for i, m in reversed(list(enumerate(future)))
    ] + [
        _billing_data(ctx.world, ctx.base, bu, m, i, forecast=False, use_forecasting=False)
        for i, m in enumerate(past)
    ]
    if ctx.wants_csv():
        rows = []
        for item in items:
            month = parse_date(item["invoiceDateStr"])
            for inv in item["invoices"]:
                payer = ctx.world.bunits[inv["payingBusinessUnit"]["id"]]
                rows.append((month, payer, inv["lines"]))
        return _csv(rows)
    return ok(listing(ctx.url, items))


def billing_one(ctx: Ctx) -> Response:
    bu = ctx.bunit()
    month = _month_param(ctx, 1)
    past = ctx.world.invoice_dates()
    if month not in past:
        raise ApiError(404, f"No billing data for {month.isoformat()}.")
    return ok(
        _billing_data(
            ctx.world, ctx.base, bu, month, past.index(month), forecast=False, use_forecasting=False
        )
    )


ROUTES: list[RouteSpec] = [
    ("GET", "bunits/{id}/contract", contract),
    ("GET", "bunits/{id}/invoices", invoices),
    ("GET", "bunits/{id}/invoices/{date}", invoice),
    ("GET", "bunits/{id}/invoicefiles", invoice_files),
    ("POST", "bunits/{id}/invoicefiles", invoice_file_upload),
    ("GET", "bunits/{id}/invoicefiles/{id}", invoice_file),
    ("GET", "bunits/{id}/billing", billing),
    ("GET", "bunits/{id}/billing/{date}", billing_one),
]
