"""Pure helpers on responses and the errors made of them: no I/O, nothing that sends.

The transport and the token manager both decode and name responses; this is
the one place that does it, so that the token manager needs no transport.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from ._exceptions import CloutilityError, DecodeError

__all__ = ["decode_error", "decode_json", "scrub"]


def decode_error(message: str, response: httpx.Response) -> DecodeError:
    """A DecodeError naming the method, URL and status of ``response``."""
    return DecodeError(
        message,
        method=response.request.method,
        url=str(response.request.url),
        status=response.status_code,
    )


def decode_json(response: httpx.Response) -> Any:
    """The JSON of ``response`` (None if empty), or ``DecodeError`` naming it."""
    content = response.content
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        kind = response.headers.get("content-type", "unknown content type")
        problem = f"expected JSON, got {kind} ({len(content)} bytes)"
    except RecursionError:
        problem = f"the JSON body is nested too deeply to decode ({len(content)} bytes)"
    raise decode_error(problem, response)


def scrub(error: CloutilityError, secrets: Sequence[str]) -> CloutilityError:
    """``error`` with every secret in its texts replaced by ``***`` (in place).

    A server may quote what it was sent: an OAuth error that repeats the
    refresh token, a 401 page that repeats the bearer token.
    """
    for name in ("message", "server_message", "code"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            for secret in secrets:
                if secret and secret in value:
                    value = value.replace(secret, "***")
            setattr(error, name, value)
    error.args = (error.message,)
    return error
