"""What one exchange is made of beyond the ``Sender``: counters, failure, body, record.

Split from ``_transport`` (which keeps the layers that send): what an attempt counts
(``SenderStatistics``), how a network failure leaves it (``NetworkFailure``), how a
body the transport left unread is read, and the DEBUG record of an answer.
"""

from __future__ import annotations

import logging
import time

import attrs
import httpx

from ._exceptions import CloutilityError, DecodeError
from ._mapping import read_body
from ._records import log_event, redact_headers, redact_url
from ._requests import PlainRequest
from ._responses import decode_error

__all__ = ["NetworkFailure", "SenderStatistics", "log_answer", "read_encoded"]

logger = logging.getLogger("cloutility_async.http")


@attrs.define
class SenderStatistics:
    """Counters for observing the transport (see ``Cloutility.statistics``)."""

    requests: int = 0  # API requests sent (attempts), grants not included
    grants: int = 0  # requests to the token endpoint (attempts)
    retries: int = 0
    replays_after_401: int = 0
    deletes_already_gone: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


class NetworkFailure(Exception):
    """An attempt failed on the network; ``error`` is what the caller will see."""

    def __init__(
        self, error: CloutilityError, *, never_sent: bool, kind: str, dropped: bool = False
    ) -> None:
        super().__init__()  # no args: its repr shows nothing of the request
        self.error = error
        self.never_sent = never_sent
        self.kind = kind  # the network failure's class name (``ConnectError``), for the hooks
        self.dropped = dropped  # the connection closed before any answer (aiohttp's word)


async def read_encoded(response: httpx.Response) -> None:
    """Read and decode a body the transport left unread; ``DecodeError`` if it is corrupt."""
    undecodable: DecodeError | None = None
    try:
        await read_body(response)
    except httpx.DecodingError as exc:  # a corrupt gzip body: not a network failure
        undecodable = decode_error(f"the response body could not be decoded: {exc}", response)
    finally:
        await response.aclose()
    if undecodable is not None:
        raise undecodable


def log_answer(
    request: httpx.Request | PlainRequest, response: httpx.Response, started: float, attempt: int
) -> None:
    """The DEBUG record of one answered attempt (secrets redacted)."""
    log_event(
        logger,
        logging.DEBUG,
        "cloutility.request",
        "%(method)s %(url)s -> %(status)d in %(elapsed_ms).1f ms"
        " (attempt %(attempt)d) headers=%(headers)s",
        method=request.method,
        url=redact_url(request.url),
        status=response.status_code,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        attempt=attempt,
        headers=redact_headers(request.headers),
    )
