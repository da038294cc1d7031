"""The one multipart/form-data part the invoice-file upload reads: its file."""

from __future__ import annotations

import codecs
import re
from urllib.parse import unquote

from .._errors import ApiError

__all__ = ["disposition_filename", "disposition_params", "parse_multipart_file"]

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
# One ``; name=value`` parameter: a quoted string (``\\`` escapes, ``;`` allowed) or a token.
_DISP_PARAM_RE = re.compile(
    r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))', re.DOTALL
)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
# Browsers (and the SDK) percent-encode only these three in a form-data file name.
_FORM_ESCAPE_RE = re.compile(r"%(22|0D|0A)", re.IGNORECASE)
_EXT_VALUE_RE = re.compile(r"([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)", re.DOTALL)


def disposition_params(disposition: str) -> dict[str, str]:
    """The parameters of a Content-Disposition value, names lower-cased, quotes removed."""
    params: dict[str, str] = {}
    for name, quoted, token in _DISP_PARAM_RE.findall(disposition):
        value = _QUOTED_PAIR_RE.sub(r"\1", quoted) if quoted else token.strip()
        params.setdefault(name.lower(), value)
    return params


def disposition_filename(params: dict[str, str]) -> str | None:
    """The file name: RFC 5987 ``filename*`` if it decodes, else ``filename`` (``%22`` etc.)."""
    extended = params.get("filename*")
    if extended is not None:
        m = _EXT_VALUE_RE.fullmatch(extended)
        if m is not None:
            try:
                codecs.lookup(m.group(1))
                return unquote(m.group(2), encoding=m.group(1), errors="strict")
            except (LookupError, UnicodeDecodeError):
                pass
    filename = params.get("filename")
    if filename is None:
        return None
    return _FORM_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), filename)


def parse_multipart_file(body: bytes, content_type: str) -> tuple[str, str, bytes]:
    """The first file part of a multipart/form-data body: (file name, content type, bytes)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            415,
            "The request must be multipart/form-data with one file.",
            code="UnsupportedMediaType",
        )
    m = _BOUNDARY_RE.search(content_type)
    if m is None:
        raise ApiError(400, "The multipart boundary is missing.")
    delimiter = b"--" + m.group(1).encode("latin-1")
    for section in body.split(delimiter)[1:]:
        if section.startswith(b"--"):
            break
        if section.startswith(b"\r\n"):
            section = section[2:]
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        filename = disposition_filename(disposition_params(disposition))
        if filename is None:
            continue
        ctype = headers.get("content-type", "application/octet-stream")
        return filename or "upload.bin", ctype, data
    raise ApiError(400, "The request contains no file.")
