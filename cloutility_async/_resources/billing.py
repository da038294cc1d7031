"""Billing of a business unit: contract, invoices, invoice files and billing data.

``BillingMixin`` holds the billing calls of ``BusinessUnitRef``. Besides the
JSON routes it offers the ``text/csv`` variants the portal serves for
invoices and billing data (rows as dicts), downloads of uploaded invoice
files, and uploads as ``multipart/form-data``, streamed from disk in chunks
so a large file is never held in memory. An upload is a create: it is sent
once and never retried.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio
import httpx

from .. import _hypermedia as routes
from .. import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from .._checks import bool_param, check_id, invoice_date
from .._exceptions import ValidationError
from .._hypermedia import Route
from .._transport import decode_error
from ._base import Ref
from ._port import Port

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BillingMixin", "InvoiceFileSource", "parse_csv"]

#: What ``upload_invoice_file`` accepts: a path (``str`` or path-like), the
#: file's bytes, or an async iterable of byte chunks (sent chunked).
InvoiceFileSource: TypeAlias = (
    str | os.PathLike[str] | bytes | bytearray | memoryview | AsyncIterable[bytes]
)

CHUNK_SIZE = 64 * 1024
_CSV_TYPES = ("text/csv", "application/csv", "text/comma-separated-values")
# A MIME type as RFC 6838 allows, with optional parameters; no control characters.
_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*(;[ -~]*)?")


class BillingMixin(Ref):
    """The billing calls of a business unit (mixed into ``BusinessUnitRef``)."""

    __slots__ = ()

    # -- contract and invoices ------------------------------------------------------

    async def contract(self) -> models.Contract:
        """The contract this business unit takes part in."""
        return await self._read(routes.CONTRACT)

    async def invoices(self) -> list[models.Invoice]:
        """Invoice data of this business unit, one ``Invoice`` per invoice date (thin)."""
        return await self._list(routes.INVOICES)

    async def invoice(self, date: dt.date | str) -> models.Invoice:
        """The invoice of one date (``YYYY-MM-DD``, as in ``Invoice.href``)."""
        return await self._read(routes.INVOICE, invoice_date(date))

    async def invoices_csv(self) -> list[dict[str, str]]:
        """The invoice lines of every invoice date, as the portal's CSV rows.

        Sent with ``Accept: text/csv``; each row maps the CSV header's column
        names to the row's text. Raises ``DecodeError`` if the body is not CSV.
        """
        return await self._get_csv(routes.INVOICES)

    async def invoice_csv(self, date: dt.date | str) -> list[dict[str, str]]:
        """The invoice lines of one invoice date, as CSV rows (see ``invoices_csv``)."""
        return await self._get_csv(routes.INVOICE, invoice_date(date))

    # -- invoice files -------------------------------------------------------------

    async def invoice_files(self) -> list[models.InvoiceFile]:
        """The invoice documents (usually PDFs) uploaded for this business unit."""
        return await self._list(routes.INVOICE_FILES)

    async def download_invoice_file(self, file: models.InvoiceFile | int | str) -> bytes:
        """The content of an uploaded invoice file (an ``InvoiceFile`` or its id)."""
        url = self._url(routes.INVOICE_FILE_CONTENT, _file_id(file))
        response = await self._port.send(url, headers={"Accept": "*/*"})
        # bytes, as promised, whatever the transport handed over (a user's may give a bytearray).
        return bytes(response.content)

    async def download_invoice_file_to(
        self, file: models.InvoiceFile | int | str, path: str | os.PathLike[str]
    ) -> int:
        """Save an uploaded invoice file at ``path``; returns the number of bytes written.

        The file is written only once the whole body has arrived, so a failed
        download leaves nothing behind.
        """
        target = anyio.Path(os.fspath(path))
        data = await self.download_invoice_file(file)
        await target.write_bytes(data)
        return len(data)

    async def upload_invoice_file(
        self,
        file: InvoiceFileSource,
        *,
        filename: str | None = None,
        content_type: str = "application/pdf",
        erp_reference: str | None = None,
        send_to_billing_address: bool = False,
    ) -> models.InvoiceFile:
        """Upload an invoice document for this business unit (``multipart/form-data``).

        ``file`` is a path (read from disk in chunks of 64 KiB and sent with a
        ``Content-Length``, never held in memory as a whole), the file's bytes,
        or an async iterable of byte chunks (sent with chunked transfer
        encoding). ``filename`` defaults to the path's name and is required
        otherwise. The upload is sent once: it is never retried.

        Raises:
            ValidationError: bad arguments or an unreadable path, before any request.
        """
        if not isinstance(content_type, str) or not _MIME_TYPE.fullmatch(content_type):
            raise ValidationError(f"content_type must be a MIME type, got {content_type!r}")
        params = _upload_params(erp_reference, send_to_billing_address)
        name, content, stream, headers = await _upload_body(file, filename, content_type)
        try:
            response = await self._write(
                routes.INVOICE_FILE_UPLOAD,
                params=params,
                content=content,
                stream=stream,
                headers=headers,
            )
        finally:
            if stream is not None:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
        return _created_file(self._port, self._port.decode(response), name, response)

    # -- billing data --------------------------------------------------------------

    async def billing(
        self, *, include_next: int | None = None, use_forecasting: bool | None = None
    ) -> list[models.BillingData]:
        """Billing data of this (reseller) business unit, one item per invoice date.

        ``include_next`` adds that many coming invoice dates; ``use_forecasting``
        (``useForecasting``) asks the portal to forecast their consumption.
        Neither is sent unless given.
        """
        params = _billing_params(include_next, use_forecasting)
        return await self._list(routes.BILLING, params=params)

    async def billing_for(self, date: dt.date | str) -> models.BillingData:
        """The billing data of one invoice date (``YYYY-MM-DD``)."""
        return await self._read(routes.BILLING_FOR, invoice_date(date))

    async def billing_csv(
        self, *, include_next: int | None = None, use_forecasting: bool | None = None
    ) -> list[dict[str, str]]:
        """``billing()`` as the portal's CSV rows: one row per invoice line."""
        params = _billing_params(include_next, use_forecasting)
        return await self._get_csv(routes.BILLING, params=params)

    # -- plumbing ------------------------------------------------------------------

    async def _get_csv(
        self, route: Route[Any], *more: object, params: dict[str, Any] | None = None
    ) -> list[dict[str, str]]:
        url = self._url(route, *more, params=params)
        response = await self._port.send(url, headers={"Accept": "text/csv"})
        try:
            return parse_csv(response.content, response.headers.get("content-type", ""))
        except ValueError as exc:
            raise decode_error(str(exc), response) from None


def _billing_params(include_next: int | None, use_forecasting: bool | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if include_next is not None:
        if not isinstance(include_next, int) or isinstance(include_next, bool) or include_next < 0:
            raise ValidationError(f"include_next must be an int >= 0, got {include_next!r}")
        params["includeNext"] = include_next
    if use_forecasting is not None:
        params["useForecasting"] = bool_param(use_forecasting, "use_forecasting")
    return params


def _upload_params(erp_reference: str | None, send_to_billing_address: bool) -> dict[str, str]:
    params = {
        "sendToBillingAddress": bool_param(send_to_billing_address, "send_to_billing_address")
    }
    if erp_reference is not None:
        if not isinstance(erp_reference, str) or not erp_reference.strip():
            raise ValidationError(
                f"erp_reference must be a non-empty string or None, got {erp_reference!r}"
            )
        params["erpReference"] = erp_reference
    return params


async def _upload_body(
    file: InvoiceFileSource, filename: str | None, content_type: str
) -> tuple[str, bytes | None, httpx.AsyncByteStream | None, dict[str, str]]:
    """The file name, the form body (bytes, or a stream) and the headers of an upload."""
    import secrets

    from ._multipart import MultipartStream  # a subclass of httpx's: httpx loads with a client

    boundary = "cloutility-" + secrets.token_hex(16)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        if not data:
            raise ValidationError("the invoice file is empty")
        name = _check_filename(filename)
        head, tail = _multipart_frame(boundary, name, content_type)
        return name, head + data + tail, None, headers
    if isinstance(file, (str, os.PathLike)):
        from pathlib import Path  # with urllib.parse: not at import

        path = Path(os.fspath(file))
        size = await _file_size(path)
        name = _check_filename(path.name if filename is None else filename)
        head, tail = _multipart_frame(boundary, name, content_type)
        headers["Content-Length"] = str(len(head) + size + len(tail))
        return name, None, MultipartStream(head, _read_file(path, size), tail), headers
    if isinstance(file, AsyncIterable):
        name = _check_filename(filename)
        head, tail = _multipart_frame(boundary, name, content_type)
        # httpx's own transport needs the framing stated; aiohttp's chunks by itself.
        headers["Transfer-Encoding"] = "chunked"
        return name, None, MultipartStream(head, _checked_chunks(file), tail), headers
    raise ValidationError(
        f"file must be a path, bytes, or an async iterable of bytes, got {type(file).__name__}"
    )


def _created_file(
    port: Port, data: Any, filename: str, response: httpx.Response
) -> models.InvoiceFile:
    """The file an upload created, from the file itself or a collection that holds it.

    In a collection (the unit's files, or a list of one), the file is the one
    of that name with the highest id (the newest). An answer without an
    identifiable file is a ``DecodeError``, never a hollow model.
    """
    model = routes.INVOICE_FILE_UPLOAD.model
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
    if isinstance(data, list):
        candidates = [port.model(item, model, response) for item in data]
        if len(candidates) > 1:
            candidates = [c for c in candidates if c.file_name == filename]
        found = max(candidates, key=lambda c: c.id or 0, default=None)
    else:
        found = port.model(data, model, response)
    if found is None or found.id is None:
        raise decode_error(f"the answer to the upload holds no file {filename!r}", response)
    return found


def _file_id(file: models.InvoiceFile | int | str) -> int:
    if isinstance(file, routes.INVOICE_FILES.model):
        if file.id is None:
            raise ValidationError("the InvoiceFile has no id")
        return check_id(file.id, "invoice file id")
    return check_id(file, "invoice file id")


# -- CSV ---------------------------------------------------------------------------


def parse_csv(content: bytes, content_type: str) -> list[dict[str, str]]:
    """The rows of a CSV body as dicts keyed by its header; ``ValueError`` if it is not CSV.

    The charset comes from ``content_type`` (UTF-8 by default, a BOM is
    skipped); the delimiter (``,``, ``;`` or tab, as the user's portal
    settings choose) is taken from the header line.
    """
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() not in _CSV_TYPES:
        shown = media_type.strip() or "no content type"
        raise ValueError(f"expected text/csv, got {shown} ({len(content)} bytes)")
    charset = "utf-8"
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    if charset.lower().replace("_", "-") in ("utf-8", "utf8"):
        charset = "utf-8-sig"
    try:
        text = content.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ValueError(f"the CSV body does not decode as {charset}: {exc}") from None
    if not text.strip():
        return []
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    import csv  # the billing data's rows only

    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ValueError(f"malformed CSV: {exc}") from None
    header, *body = rows
    if len(set(header)) != len(header) or not all(header):
        raise ValueError(f"the CSV header has empty or repeated column names: {header!r}")
    out = []
    for number, row in enumerate(body, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise ValueError(
                f"CSV row {number} has {len(row)} fields, the header has {len(header)}"
            )
        out.append(dict(zip(header, row, strict=True)))
    return out


# -- multipart ---------------------------------------------------------------------


def _check_filename(filename: object) -> str:
    """A base name only: the portal runs on Windows, where ``\\`` and ``:`` are path parts."""
    if not isinstance(filename, str) or not filename.strip():
        raise ValidationError(f"filename must be a non-empty string, got {filename!r}")
    if (
        any(c in "/\\:" or unicodedata.category(c) == "Cc" for c in filename)
        or filename.strip(". ") == ""
    ):
        raise ValidationError(
            "filename must be a plain file name (a base name, without / \\ : or control"
            f" characters), got {filename!r}"
        )
    return filename


def _multipart_frame(boundary: str, filename: str, content_type: str) -> tuple[bytes, bytes]:
    """The bytes before and after the file's content in a one-part form body.

    The file name is sent as UTF-8 with ``"`` percent-encoded, as browsers do
    (RFC 7578 forbids ``filename*``).
    """
    quoted = filename.replace('"', "%22")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        f"Content-Type: {content_type}\r\n"
        "\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail


async def _file_size(path: Path) -> int:
    try:
        info = await anyio.Path(path).stat()
    except OSError as exc:
        raise ValidationError(f"cannot read the invoice file {str(path)!r}: {exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValidationError(f"the invoice file {str(path)!r} is not a regular file")
    if info.st_size == 0:
        raise ValidationError(f"the invoice file {str(path)!r} is empty")
    return info.st_size


async def _read_file(path: Path, size: int) -> AsyncIterator[bytes]:
    """Exactly ``size`` bytes of ``path``, in chunks: the Content-Length is already sent."""
    async with await anyio.open_file(path, "rb") as handle:
        left = size
        while left:
            chunk = await handle.read(min(CHUNK_SIZE, left))
            if not chunk:
                raise ValidationError(f"the invoice file {str(path)!r} shrank during the upload")
            left -= len(chunk)
            yield chunk


async def _checked_chunks(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in source:
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise ValidationError(f"file chunks must be bytes, got {type(chunk).__name__}")
            yield bytes(chunk)
    finally:
        # The caller's generator is closed here, in this task, however the upload ends.
        closer = getattr(source, "aclose", None)
        if closer is not None:
            await closer()
