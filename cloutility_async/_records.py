"""The SDK's log records: a stable event name and fields a log pipeline can pick.

Every record the SDK logs carries its event name as ``record.event``
(``"cloutility.request"``) and the event's facts as attributes of the record
(``record.method``, ``record.url``, ``record.status``, ``record.elapsed_ms``,
``record.attempt``, ...), put there through ``extra``. Its message is the event
name followed by a sentence formatted from those same fields, so a JSON
formatter and a person reading stderr see the same facts.

No field holds a secret: URLs go through `redact_url`, headers show the token
as ``Bearer ***``, and nothing of a request body or token is ever a field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import httpx

__all__ = [
    "MASKED_HEADERS",
    "log_event",
    "redact_header",
    "redact_headers",
    "redact_text",
    "redact_url",
    "secret_values",
]

#: What a redacted value reads as (OpenTelemetry's word for it in ``url.full``).
REDACTED = "REDACTED"

# Query parameters whose values are credentials or signatures.
_SECRET_PARAMETER = re.compile(
    r"pass|secret|token|signature|credential|session|^sig$|^key$|api[-_]?key|^code$|^auth",
    re.IGNORECASE,
)


def log_event(
    logger: logging.Logger,
    level: int,
    event: str,
    text: str,
    /,
    *,
    exc_info: bool = False,
    **fields: object,
) -> None:
    """Log ``event`` at ``level`` with ``fields`` on the record and a readable message.

    The message is ``"{event}: {text}"``, where ``text`` refers to the fields
    by name (``"%(method)s %(url)s -> %(status)d"``) and so never repeats them;
    a literal ``%`` is written ``%%``. Nothing is built when ``level`` is off.
    """
    if not logger.isEnabledFor(level):
        return
    fields["event"] = event
    # One mapping as the only argument: logging formats the message with it lazily.
    logger.log(level, f"{event}: {text}", fields, exc_info=exc_info, extra=fields, stacklevel=2)


def redact_url(url: httpx.URL | str) -> str:
    """``url`` as it may be logged or traced: no user or password, no secret in the query.

    The values of query parameters named like a credential (``password``,
    ``access_token``, ``signature``, ``api_key``, ...) read ``REDACTED``, as
    do a user name and password in the URL; the fragment is dropped (it is
    never sent). Everything else is kept as it was.
    """
    if isinstance(url, str):
        if "?" not in url and "@" not in url and "#" not in url:
            return url
        url = httpx.URL(url)
    if not url.query and not url.userinfo and not url.fragment:
        return str(url)
    changes: dict[str, object] = {"fragment": None}
    if url.userinfo:
        hidden = f"{REDACTED}:{REDACTED}" if b":" in url.userinfo else REDACTED
        changes["userinfo"] = hidden.encode()
    if url.query:
        changes["query"] = _redact_query(url.query.decode("ascii")).encode("ascii")
    return str(url.copy_with(**changes))


def _is_secret(name: str) -> bool:
    """Whether a query parameter's (encoded) name is a credential's."""
    if "%" in name or "+" in name:
        from urllib.parse import unquote  # with ipaddress: not at import (2 ms)

        name = unquote(name.replace("+", " "))
    return _SECRET_PARAMETER.search(name) is not None


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        if equals and _is_secret(name):
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "&".join(parts)


def secret_values(url: str) -> tuple[str, ...]:
    """The values of ``url``'s credential-named query parameters, as written and decoded."""
    query = url.partition("?")[2].partition("#")[0]
    found: list[str] = []
    for part in query.split("&") if query else ():
        name, equals, value = part.partition("=")
        if equals and value and _is_secret(name):
            found.append(value)
            if "%" in value or "+" in value:
                from urllib.parse import unquote_plus

                found.append(unquote_plus(value))
    return tuple(found)


# A query parameter quoted in a text: a name after ``?`` or ``&``, then ``=`` and its value.
_QUOTED_PARAMETER = re.compile(r"(?<=[?&])([^\s=&#?'\"<>]+)=([^\s&#'\"<>]*)")


def _redact_quoted(match: re.Match[str]) -> str:
    return f"{match[1]}={REDACTED}" if _is_secret(match[1]) else match[0]


# The shortest of ``redact_text``'s values masked wherever the text repeats it. A shorter
# one (``session=1``, ``token_type=bearer``) is no credential, and masking each of its
# occurrences would turn every 1 of a message, a request id or a Content-Length into
# REDACTED; it is still masked where the text quotes it as a parameter (``name=value``).
_MIN_MASKED = 8


def redact_text(text: str, values: tuple[str, ...] = ()) -> str:
    """``text`` (a message that may quote a URL) with secret query values ``REDACTED``:
    those of each quoted query parameter named like a credential, and ``values`` (of
    ``_MIN_MASKED`` characters or more)."""
    for value in values:
        if len(value) >= _MIN_MASKED and value in text:
            text = text.replace(value, REDACTED)
    if "=" not in text or ("?" not in text and "&" not in text):
        return text  # no query parameter quoted: most messages and headers
    return _QUOTED_PARAMETER.sub(_redact_quoted, text)


# Headers whose values are credentials: the bearer or basic secret, a session cookie sent
# or set. Their names are kept (a reader still sees that a cookie was set), never their values.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Challenges whose parameters may carry a token (``Negotiate <token68>``).
_CHALLENGES = frozenset({"www-authenticate", "proxy-authenticate"})
MASKED_HEADERS = SECRET_HEADERS | _CHALLENGES

# A challenge's token68 (``Negotiate oYGC...``): a scheme, then one token up to a comma or the
# end. Auth parameters (``Bearer error="invalid_token"``) are not one and are kept.
# Compiled on first use (by ``re``'s cache), not at import: few answers carry a challenge.
_TOKEN68 = r"(?<![=\w\"])([!#$%&'*+.^_`|~\w-]+ +)[\w.~+/-]+=*(?= *(?:,|$))"


def redact_header(name: str, value: str) -> str:
    """``value`` of header ``name`` (lower case) as it may be shown: a credential masked.

    ``Authorization: Bearer ***`` keeps its scheme, a cookie its names
    (``session=***; Path=/``), a challenge its scheme and parameters but not a token;
    any other header is returned as it is.
    """
    if name in ("authorization", "proxy-authorization"):
        scheme, space, _ = value.partition(" ")
        return f"{scheme} ***" if space else "***"
    if name == "set-cookie":  # one cookie, then its attributes (Path, Expires, ...)
        cookie, semicolon, attributes = value.partition(";")
        return f"{_masked_cookie(cookie)}{semicolon}{attributes}"
    if name == "cookie":
        return "; ".join(_masked_cookie(pair) for pair in value.split(";"))
    if name in _CHALLENGES:
        return re.sub(_TOKEN68, r"\1***", value)
    return value


def _masked_cookie(pair: str) -> str:
    cookie_name, equals, _ = pair.strip().partition("=")
    return f"{cookie_name}=***" if equals else "***"


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with credentials masked (`redact_header`): ``Bearer ***``, ``sid=***``."""
    return {name: redact_header(name.lower(), value) for name, value in headers.items()}
