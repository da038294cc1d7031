"""Billing: billing data options, CSV variants, invoice file download and multipart upload."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloutility_async import (
    Cloutility,
    DecodeError,
    InvoiceFile,
    NotFoundError,
    ServerError,
    ValidationError,
)
from cloutility_async._resources.billing import CHUNK_SIZE, parse_csv
from cloutility_async.testing import Simulator
from tests.fakeportal import BASE_URL, FakePortal

pytestmark = pytest.mark.anyio

CSV_TYPE = "text/csv; charset=utf-8"
INVOICE_CSV = (
    "invoiceDate,payingBusinessUnitId,payingBusinessUnit,product,quantity\r\n"
    '2023-11-01,22,"Company AB, Sales",Backup storage (GB),2.5\r\n'
    "2023-11-01,22,Company AB,Backup node,1\r\n"
)
UPLOADED = {
    "href": BASE_URL + "bunits/22/invoicefiles/701",
    "id": 701,
    "fileName": "invoice-2023-11.pdf",
    "contentType": "application/pdf",
    "size": 11,
    "erpReference": "ERP-7",
    "sendToBillingAddress": True,
}
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


def listing(path: str, items: list[Any]) -> dict[str, Any]:
    href = BASE_URL + path
    return {"href": href, "total": len(items), "offset": 0, "first": href, "items": items}


def parse_form(request_or_body: httpx.Request | bytes, content_type: str) -> dict[str, Any]:
    """Split a one-part multipart/form-data body into its boundary, part headers and data."""
    body = request_or_body if isinstance(request_or_body, bytes) else request_or_body.content
    match = re.fullmatch(r"multipart/form-data; boundary=([A-Za-z0-9'()+_,./:=?-]+)", content_type)
    assert match, content_type
    boundary = match.group(1).encode()
    assert body.startswith(b"--" + boundary + b"\r\n")
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    inner = body[len(boundary) + 4 : -(len(boundary) + 8)]
    head, _, data = inner.partition(b"\r\n\r\n")
    return {"headers": head.decode().split("\r\n"), "data": data}


class RecordingTransport(httpx.AsyncBaseTransport):
    """Reads each request body chunk by chunk (recording chunk sizes), then asks the portal."""

    def __init__(self, portal: FakePortal) -> None:
        self.inner = portal.transport()
        self.chunk_sizes: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/invoicefiles"):
            body = b""
            assert isinstance(request.stream, httpx.AsyncByteStream)
            async for chunk in request.stream:
                self.chunk_sizes.append(len(chunk))
                body += chunk
            request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
        return await self.inner.handle_async_request(request)


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


@pytest.fixture
def sim() -> Simulator:
    return Simulator(consumers=12)


@pytest.fixture
async def sim_api(sim: Simulator, anyio_backend: str) -> AsyncIterator[Cloutility]:
    """An SDK client talking to the simulator in-process."""
    async with Cloutility(**sim.client_options(), strict=True) as api:
        yield api


@pytest.fixture
def sim_url(sim: Simulator) -> Iterator[str]:
    """The simulator on a loopback socket."""
    with sim.serve_in_thread() as base_url:
        yield base_url


def socket_client(sim: Simulator, base_url: str) -> Cloutility:
    """An SDK client with its default transport (aiohttp on asyncio, httpx on trio)."""
    return Cloutility(**sim.client_options(base_url), strict=True)


# -- billing data --------------------------------------------------------------------


async def test_billing_sends_use_forecasting_false(portal: FakePortal) -> None:
    """billing(use_forecasting=False) sends useForecasting=false."""
    route = portal.route("GET", "bunits/22/billing", json=listing("bunits/22/billing", []))
    async with portal.client() as api:
        await api.bunit(22).billing(use_forecasting=False)
    assert route.calls.last.request.url.params.multi_items() == [("useForecasting", "false")]


async def test_billing_sends_include_next_and_use_forecasting(portal: FakePortal) -> None:
    """billing(include_next=2, use_forecasting=True) sends both query parameters."""
    route = portal.route("GET", "bunits/22/billing", json=listing("bunits/22/billing", []))
    async with portal.client() as api:
        await api.bunit(22).billing(include_next=2, use_forecasting=True)
    assert sorted(route.calls.last.request.url.params.multi_items()) == [
        ("includeNext", "2"),
        ("useForecasting", "true"),
    ]


@pytest.mark.parametrize(
    "options", [{"use_forecasting": "yes"}, {"include_next": -1}, {"include_next": True}]
)
async def test_billing_refuses_bad_options_before_sending(
    portal: FakePortal, options: dict[str, Any]
) -> None:
    """billing() with a bad include_next or use_forecasting raises ValidationError, no request."""
    route = portal.route("GET", "bunits/22/billing", json=listing("bunits/22/billing", []))
    async with portal.client() as api:
        with pytest.raises(ValidationError):
            await api.bunit(22).billing(**options)
    assert route.call_count == 0


async def test_billing_include_next_adds_coming_invoice_dates(sim_api: Cloutility) -> None:
    """With include_next=2 the simulator adds two coming invoice dates to the past ones."""
    past = await sim_api.bunit(22).billing()
    with_next = await sim_api.bunit(22).billing(include_next=2, use_forecasting=True)
    assert len(with_next) == len(past) + 2
    assert {d.invoice_date_str for d in past} < {d.invoice_date_str for d in with_next}


async def test_billing_for_fetches_one_date_from_the_simulator(sim_api: Cloutility) -> None:
    """billing_for(date) returns the BillingData of that invoice date."""
    newest = max(d.invoice_date_str or "" for d in await sim_api.bunit(22).billing())
    data = await sim_api.bunit(22).billing_for(newest)
    assert data.invoice_date_str == newest
    assert data.invoices


# -- CSV -----------------------------------------------------------------------------


async def test_invoices_csv_asks_for_csv_and_decodes_rows(portal: FakePortal) -> None:
    """invoices_csv() sends Accept: text/csv and returns one dict per row, quotes honoured."""
    route = portal.route(
        "GET",
        "bunits/22/invoices",
        content=INVOICE_CSV.encode(),
        headers={"Content-Type": CSV_TYPE},
    )
    async with portal.client() as api:
        rows = await api.bunit(22).invoices_csv()
    assert route.calls.last.request.headers["accept"] == "text/csv"
    assert rows[0]["payingBusinessUnit"] == "Company AB, Sales"
    assert [r["product"] for r in rows] == ["Backup storage (GB)", "Backup node"]


async def test_invoice_csv_gets_the_invoice_date_route(portal: FakePortal) -> None:
    """invoice_csv(date) sends GET bunits/22/invoices/YYYY-MM-DD with Accept: text/csv."""
    route = portal.route(
        "GET",
        "bunits/22/invoices/2023-11-01",
        content=INVOICE_CSV.encode(),
        headers={"Content-Type": CSV_TYPE},
    )
    async with portal.client() as api:
        rows = await api.bunit(22).invoice_csv(dt.date(2023, 11, 1))
    assert route.calls.last.request.headers["accept"] == "text/csv"
    assert {r["invoiceDate"] for r in rows} == {"2023-11-01"}


async def test_billing_csv_sends_the_billing_options(portal: FakePortal) -> None:
    """billing_csv(include_next=1, use_forecasting=False) sends the same query as billing()."""
    route = portal.route(
        "GET", "bunits/22/billing", content=INVOICE_CSV.encode(), headers={"Content-Type": CSV_TYPE}
    )
    async with portal.client() as api:
        rows = await api.bunit(22).billing_csv(include_next=1, use_forecasting=False)
    assert sorted(route.calls.last.request.url.params.multi_items()) == [
        ("includeNext", "1"),
        ("useForecasting", "false"),
    ]
    assert len(rows) == 2


async def test_csv_answered_with_json_raises_decode_error(portal: FakePortal) -> None:
    """A JSON answer to a CSV request raises DecodeError naming what came back."""
    portal.route("GET", "bunits/22/invoices", json=listing("bunits/22/invoices", []))
    async with portal.client() as api:
        with pytest.raises(DecodeError, match="expected text/csv, got application/json"):
            await api.bunit(22).invoices_csv()


async def test_csv_with_a_ragged_row_raises_decode_error(portal: FakePortal) -> None:
    """A row with more fields than the header raises DecodeError."""
    portal.route(
        "GET", "bunits/22/invoices", content=b"a,b\r\n1,2,3\r\n", headers={"Content-Type": CSV_TYPE}
    )
    async with portal.client() as api:
        with pytest.raises(DecodeError, match="row 2 has 3 fields"):
            await api.bunit(22).invoices_csv()


def test_parse_csv_takes_a_semicolon_delimiter_from_the_header() -> None:
    """A semicolon-separated body (the portal's csvDelimiter setting) decodes by column."""
    rows = parse_csv(b"product;amount\r\nBackup node;49,00\r\n", "text/csv")
    assert rows == [{"product": "Backup node", "amount": "49,00"}]


def test_parse_csv_honours_the_charset_and_skips_a_bom() -> None:
    """A latin-1 body decodes by its charset; a UTF-8 BOM is not part of the first column."""
    assert parse_csv("name\r\nKöping\r\n".encode("latin-1"), "text/csv; charset=ISO-8859-1") == [
        {"name": "Köping"}
    ]
    assert parse_csv(b"\xef\xbb\xbfname\r\nx\r\n", "text/csv") == [{"name": "x"}]


def test_parse_csv_of_an_empty_body_is_no_rows() -> None:
    """An empty CSV body decodes to an empty list."""
    assert parse_csv(b"", "text/csv") == []


def test_parse_csv_refuses_undecodable_bytes() -> None:
    """Bytes that are not valid in the declared charset raise ValueError."""
    with pytest.raises(ValueError, match="does not decode"):
        parse_csv(b"name\r\n\xff\xfe\r\n", "text/csv; charset=utf-8")


async def test_invoices_csv_decodes_the_simulators_csv(sim_api: Cloutility) -> None:
    """invoices_csv() against the simulator: one row per invoice line with numeric amounts."""
    rows = await sim_api.bunit(22).invoices_csv()
    assert rows
    assert {"invoiceDate", "product", "quantity", "unitPrice", "amount"} <= rows[0].keys()
    assert all(float(r["amount"]) >= 0 for r in rows)


async def test_invoice_csv_matches_the_json_invoice(sim_api: Cloutility) -> None:
    """invoice_csv(date) has one row per line of invoice(date) from the simulator."""
    date = (await sim_api.bunit(22).invoices())[0].href
    assert date is not None
    day = date.rsplit("/", 1)[1]
    invoice = await sim_api.bunit(22).invoice(day)
    rows = await sim_api.bunit(22).invoice_csv(day)
    assert len(rows) == len(invoice.lines)
    assert {r["invoiceDate"] for r in rows} == {day}


async def test_billing_csv_decodes_the_simulators_csv(sim_api: Cloutility) -> None:
    """billing_csv() has a row for every invoice line of every billing() item."""
    data = await sim_api.bunit(22).billing()
    rows = await sim_api.bunit(22).billing_csv()
    assert len(rows) == sum(len(inv.lines) for d in data for inv in d.invoices)


# -- invoice files: download ---------------------------------------------------------


async def test_download_invoice_file_returns_the_bytes(sim_api: Cloutility) -> None:
    """download_invoice_file(model) returns the stored PDF bytes."""
    files = await sim_api.bunit(22).invoice_files()
    data = await sim_api.bunit(22).download_invoice_file(files[0])
    assert data.startswith(b"%PDF-1.4")
    assert len(data) == files[0].size


async def test_a_download_over_the_default_transport_is_bytes(sim: Simulator) -> None:
    """Over a socket, through the client's own transport (aiohttp on asyncio, h11 on trio),
    a small file is ``bytes`` as annotated: on trio it came as a ``bytearray`` (unhashable,
    and ``isinstance(data, bytes)`` was false)."""
    with sim.serve_in_thread() as base_url:
        async with Cloutility(**sim.client_options(base_url)) as api:
            uploaded = await api.bunit(22).upload_invoice_file(PDF, filename="small.pdf")
            data = await api.bunit(22).download_invoice_file(uploaded)
    assert type(data) is bytes
    assert data == PDF


async def test_download_invoice_file_by_id_sends_get(portal: FakePortal) -> None:
    """download_invoice_file(4) sends GET bunits/22/invoicefiles/4 and returns the body."""
    route = portal.route(
        "GET", "bunits/22/invoicefiles/4", content=PDF, headers={"Content-Type": "application/pdf"}
    )
    async with portal.client() as api:
        assert await api.bunit(22).download_invoice_file(4) == PDF
    assert route.call_count == 1


async def test_download_invoice_file_to_writes_the_file(
    sim_api: Cloutility, tmp_path: Path
) -> None:
    """download_invoice_file_to(file, path) writes the bytes and returns their count."""
    files = await sim_api.bunit(22).invoice_files()
    target = tmp_path / "invoice.pdf"
    written = await sim_api.bunit(22).download_invoice_file_to(files[0], target)
    assert written == files[0].size
    assert target.read_bytes().startswith(b"%PDF-1.4")


async def test_download_of_an_unknown_file_raises_not_found(sim_api: Cloutility) -> None:
    """Downloading a file id the business unit does not have raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await sim_api.bunit(22).download_invoice_file(99999)


async def test_download_of_a_model_without_id_is_refused(portal: FakePortal) -> None:
    """An InvoiceFile without an id raises ValidationError before any request."""
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="no id"):
            await api.bunit(22).download_invoice_file(InvoiceFile(file_name="x.pdf"))


# -- invoice files: upload -----------------------------------------------------------


async def test_upload_bytes_sends_the_multipart_body(portal: FakePortal) -> None:
    """upload_invoice_file(bytes) POSTs one form part: name, file name, type and the bytes."""
    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    async with portal.client() as api:
        result = await api.bunit(22).upload_invoice_file(
            PDF, filename="invoice-2023-11.pdf", erp_reference="ERP-7", send_to_billing_address=True
        )
    request = route.calls.last.request
    assert sorted(request.url.params.multi_items()) == [
        ("erpReference", "ERP-7"),
        ("sendToBillingAddress", "true"),
    ]
    form = parse_form(request, request.headers["content-type"])
    assert form["headers"] == [
        'Content-Disposition: form-data; name="file"; filename="invoice-2023-11.pdf"',
        "Content-Type: application/pdf",
    ]
    assert form["data"] == PDF
    assert request.headers["content-length"] == str(len(request.content))
    assert isinstance(result, InvoiceFile)
    assert result.id == 701


async def test_upload_without_erp_reference_sends_only_the_flag(portal: FakePortal) -> None:
    """Without erp_reference the query is sendToBillingAddress=false alone."""
    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    async with portal.client() as api:
        await api.bunit(22).upload_invoice_file(PDF, filename="a.pdf")
    assert route.calls.last.request.url.params.multi_items() == [("sendToBillingAddress", "false")]


async def test_upload_escapes_quotes_and_keeps_utf8_in_the_file_name(portal: FakePortal) -> None:
    """A '"' in the file name is sent as %22; non-ASCII letters go as UTF-8, as browsers do."""
    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    async with portal.client() as api:
        await api.bunit(22).upload_invoice_file(PDF, filename='Faktura "Nov" Köping.pdf')
    request = route.calls.last.request
    form = parse_form(request, request.headers["content-type"])
    assert form["headers"][0].endswith('filename="Faktura %22Nov%22 Köping.pdf"')


async def test_upload_of_a_path_streams_it_in_chunks(portal: FakePortal, tmp_path: Path) -> None:
    """A path is sent with a Content-Length, in chunks of at most 64 KiB, bytes intact."""
    content = bytes(range(256)) * (CHUNK_SIZE * 3 // 256) + b"tail"
    path = tmp_path / "big-invoice.pdf"
    path.write_bytes(content)
    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    transport = RecordingTransport(portal)
    async with portal.client(transport=transport) as api:
        await api.bunit(22).upload_invoice_file(path)
    request = route.calls.last.request
    form = parse_form(request, request.headers["content-type"])
    assert form["data"] == content
    assert 'filename="big-invoice.pdf"' in form["headers"][0]
    assert request.headers["content-length"] == str(len(request.content))
    assert max(transport.chunk_sizes) <= CHUNK_SIZE
    assert len(transport.chunk_sizes) >= 5  # head, 4 file chunks, tail


async def test_upload_of_an_async_iterable_is_sent_chunked(portal: FakePortal) -> None:
    """An async iterable of bytes is sent with chunked transfer encoding, chunks in order."""

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"%PDF-1.4\n", b"body\n", b"%%EOF\n"):
            yield part

    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    transport = RecordingTransport(portal)
    async with portal.client(transport=transport) as api:
        await api.bunit(22).upload_invoice_file(chunks(), filename="s.pdf")
    request = route.calls.last.request
    assert request.headers["transfer-encoding"] == "chunked"
    assert parse_form(request, request.headers["content-type"])["data"] == (
        b"%PDF-1.4\nbody\n%%EOF\n"
    )


async def test_upload_is_never_retried(portal: FakePortal) -> None:
    """A 503 answer to an upload raises ServerError after exactly one POST."""
    route = portal.route("POST", "bunits/22/invoicefiles", status_code=503)
    async with portal.client() as api:
        with pytest.raises(ServerError):
            await api.bunit(22).upload_invoice_file(PDF, filename="a.pdf")
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("file", "options", "message"),
    [
        (PDF, {}, "filename"),
        (PDF, {"filename": "a\r\nb.pdf"}, "plain file name"),
        (PDF, {"filename": "dir/a.pdf"}, "plain file name"),
        (b"", {"filename": "a.pdf"}, "empty"),
        (PDF, {"filename": "a.pdf", "content_type": "pdf"}, "MIME type"),
        (PDF, {"filename": "a.pdf", "content_type": "application/pdf\r\nX: y"}, "MIME type"),
        (PDF, {"filename": "a.pdf", "send_to_billing_address": "yes"}, "True or False"),
        (PDF, {"filename": "a.pdf", "erp_reference": ""}, "erp_reference"),
        (42, {"filename": "a.pdf"}, "path, bytes, or an async iterable"),
    ],
)
async def test_upload_refuses_bad_arguments_before_sending(
    portal: FakePortal, file: Any, options: dict[str, Any], message: str
) -> None:
    """Bad upload arguments raise ValidationError and send nothing."""
    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    async with portal.client() as api:
        with pytest.raises(ValidationError, match=message):
            await api.bunit(22).upload_invoice_file(file, **options)
    assert route.call_count == 0


async def test_upload_of_a_missing_path_is_refused(portal: FakePortal, tmp_path: Path) -> None:
    """A path that does not exist raises ValidationError and sends nothing."""
    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="cannot read"):
            await api.bunit(22).upload_invoice_file(tmp_path / "missing.pdf")
    assert route.call_count == 0


async def test_upload_of_a_directory_is_refused(portal: FakePortal, tmp_path: Path) -> None:
    """A directory raises ValidationError and sends nothing."""
    route = portal.route("POST", "bunits/22/invoicefiles", json=UPLOADED)
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="not a regular file"):
            await api.bunit(22).upload_invoice_file(tmp_path)
    assert route.call_count == 0


async def test_uploaded_path_round_trips_through_the_simulator_socket(
    sim: Simulator, sim_url: str, tmp_path: Path
) -> None:
    """Over a socket, an uploaded file is listed with its options and downloads byte-identical."""
    content = PDF + bytes(200_000)
    path = tmp_path / "invoice-2024-01.pdf"
    path.write_bytes(content)
    async with socket_client(sim, sim_url) as api:
        uploaded = await api.bunit(22).upload_invoice_file(
            path, erp_reference="ERP-2024-01", send_to_billing_address=True
        )
        listed = await api.bunit(22).invoice_files()
        downloaded = await api.bunit(22).download_invoice_file(uploaded)
    assert uploaded.file_name == "invoice-2024-01.pdf"
    assert uploaded.size == len(content)
    assert uploaded.erp_reference == "ERP-2024-01"
    assert uploaded.send_to_billing_address is True
    assert uploaded.id in {f.id for f in listed}
    assert downloaded == content
    assert sim.stats.creates["invoicefile:invoice-2024-01.pdf"] == 1


async def test_chunked_upload_reaches_the_simulator_socket(sim: Simulator, sim_url: str) -> None:
    """Over a socket, an async-iterable upload (chunked) is stored whole."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 10_000

    async with socket_client(sim, sim_url) as api:
        uploaded = await api.bunit(22).upload_invoice_file(
            chunks(), filename="stream.pdf", content_type="application/octet-stream"
        )
        downloaded = await api.bunit(22).download_invoice_file(uploaded.id or 0)
    assert uploaded.content_type == "application/octet-stream"
    assert downloaded == b"x" * 200_000
