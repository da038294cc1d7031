"""Billing routes: invoices in JSON and CSV, invoice files, billing data, contracts."""

from __future__ import annotations

import re

import httpx
import pytest

from cloutility_async.testing import Simulator

pytestmark = pytest.mark.anyio


async def test_invoices_json_and_csv(http: httpx.AsyncClient) -> None:
    """Invoices come as JSON by default and as CSV when asked."""
    invoices = (await http.get("bunits/22/invoices")).json()
    assert invoices["total"] == 6
    href = invoices["items"][0]["href"]
    assert re.search(r"/invoices/\d{4}-\d\d-01$", href)
    one = (await http.get(href)).json()
    assert one["lines"]
    csv_one = await http.get(href, headers={"Accept": "text/csv"})
    assert csv_one.headers["content-type"].startswith("text/csv")
    rows = csv_one.text.strip().splitlines()
    assert rows[0].startswith("invoiceDate,")
    assert len(rows) == len(one["lines"]) + 1
    assert (await http.get("bunits/22/invoices/2024-13-01")).status_code == 400
    assert (await http.get("bunits/22/invoices/1999-01-01")).status_code == 404


async def test_invoice_file_upload_and_download(http: httpx.AsyncClient, sim: Simulator) -> None:
    """A multipart upload is stored; its href serves the same bytes and content type."""
    pdf = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF"
    response = await http.post(
        "bunits/22/invoicefiles",
        params={"erpReference": "ERP-42", "sendToBillingAddress": "true"},
        files={"file": ("may.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["fileName"] == "may.pdf"
    assert body["contentType"] == "application/pdf"
    assert body["size"] == len(pdf)
    assert body["erpReference"] == "ERP-42"
    assert body["sendToBillingAddress"] is True
    download = await http.get(body["href"])
    assert download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    listing = (await http.get("bunits/22/invoicefiles")).json()
    assert body["id"] in {f["id"] for f in listing["items"]}
    assert sim.stats.creates["invoicefile:may.pdf"] == 1
    not_multipart = await http.post("bunits/22/invoicefiles", json={"x": 1})
    assert not_multipart.status_code == 415


def multipart(disposition: str, data: bytes = b"%PDF-1.7") -> tuple[bytes, str]:
    boundary = "sim-boundary-42"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('form-data; name="file"; filename="may; june.pdf"', "may; june.pdf"),
        ('form-data; name="file"; filename="say %22hi%22; v2.pdf"', 'say "hi"; v2.pdf'),
        ('form-data; name="file"; filename="back\\\\slash.pdf"', "back\\slash.pdf"),
        (
            'form-data; name="file"; filename="fallback.pdf"; '
            "filename*=UTF-8''r%C3%A4kning%3B%20maj.pdf",
            "räkning; maj.pdf",
        ),
        ("form-data; name=file; filename*=iso-8859-1'sv'k%F6p.pdf", "köp.pdf"),
        (
            'form-data; name="file"; filename*=no-such-charset\'\'x.pdf; filename="plain.pdf"',
            "plain.pdf",
        ),
        ("form-data; name=file; filename=token.pdf", "token.pdf"),
    ],
)
async def test_invoice_file_upload_decodes_the_file_name(
    http: httpx.AsyncClient, sim: Simulator, disposition: str, expected: str
) -> None:
    """Quoted names keep their ';', %22 is a quote, filename* (RFC 5987) wins when it decodes."""
    body, content_type = multipart(disposition)
    response = await http.post(
        "bunits/22/invoicefiles", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200
    assert response.json()["fileName"] == expected
    assert sim.stats.creates["invoicefile:" + expected] == 1


async def test_invoice_file_upload_name_round_trips_from_httpx(http: httpx.AsyncClient) -> None:
    """httpx percent-encodes '"' and escapes '\\'; the stored name is the original."""
    name = 'say "hi"; back\\slash; räkning.pdf'
    response = await http.post(
        "bunits/22/invoicefiles", files={"file": (name, b"%PDF", "application/pdf")}
    )
    assert response.status_code == 200
    assert response.json()["fileName"] == name


async def test_billing_with_forecast_and_contract(http: httpx.AsyncClient) -> None:
    """billing?includeNext=N adds N forecast entries; billing/{date} answers one entry."""
    plain = (await http.get("bunits/22/billing")).json()
    ahead = (
        await http.get("bunits/22/billing", params={"includeNext": 2, "useForecasting": "true"})
    ).json()
    assert ahead["total"] == plain["total"] + 2
    past = plain["items"][0]
    assert past["invoices"]
    assert past["summary"][0]["currency"]["code"] == "SEK"
    one = (await http.get(past["href"])).json()
    assert one["invoiceDateStr"] == past["invoiceDateStr"]
    csv_text = (await http.get("bunits/22/billing", headers={"Accept": "text/csv"})).text
    assert csv_text.startswith("invoiceDate,")
    contract = (await http.get("bunits/22/contract")).json()
    assert contract["currency"]["code"] == "SEK"
    assert contract["subscriptions"][0]["components"]
