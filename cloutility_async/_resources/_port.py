"""The narrow port between the proxies and their client.

A proxy never sees the client: it holds a ``Port``, which offers exactly
what a proxy needs (read JSON with concurrent reads shared, write, send a
plain request, decode and structure an answer) plus the little per-client
state proxies share (the first-job instants for the jobs clamp). The client
owns the port and opens it with the sender of each ``async with`` session.
"""

from __future__ import annotations

import copy
from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from .. import _converter
from .._converter import ConversionError, Reading
from .._exceptions import ClientStateError, DecodeError
from .._hypermedia import Base
from .._records import redact_text, secret_values
from .._singleflight import SingleFlight
from .._transport import decode_error
from ._instant import ServerInstant

if TYPE_CHECKING:
    from .._models import Collection
    from .._transport import Sender

__all__ = ["Port"]

M = TypeVar("M")


class Port:
    """What the proxies of one client may do with it."""

    __slots__ = (
        "_flight_key",
        "_flights",
        "_options",
        "_reading",
        "_sender",
        "_session",
        "base",
        "first_jobs",
    )

    def __init__(self, base: Base, reading: Reading) -> None:
        self.base = base
        self._reading = reading
        self._sender: Sender | None = None
        self._session = self  # the port whose sender this one sends with
        self._options: dict[str, Any] = {}  # Sender.send's options for every call
        self._flight_key = ""  # told apart from other options' flights of one URL
        self._flights = SingleFlight()
        # The first job's `completed` per (bunit, consumer), for clamping job queries:
        # it never changes once a job has run.
        self.first_jobs: dict[tuple[int, int], ServerInstant] = {}

    def with_options(self, **options: Any) -> Port:
        """A port of the same session, whose calls send with ``options`` (``retry``,
        ``timeouts``); reads, writes and first-job instants stay shared."""
        view = copy.copy(self)
        view._options = {**self._options, **options}
        view._flight_key = " " + repr(sorted(view._options.items()))
        return view

    # -- the session ---------------------------------------------------------------

    def open(self, sender: Sender) -> None:
        self._sender = sender

    def close(self) -> None:
        self._sender = None

    def sender(self) -> Sender:
        """The open session's sender; ``ClientStateError`` outside ``async with``."""
        sender = self._session._sender
        if sender is None:
            raise ClientStateError(
                "the client is not open: use 'async with Cloutility(...) as api:'"
            )
        return sender

    # -- requests ------------------------------------------------------------------

    def get_json(self, url: httpx.URL) -> Coroutine[Any, Any, tuple[Any, httpx.Response]]:
        """GET and decode JSON: ``(data, response)``; concurrent GETs of one URL share a
        single request."""
        return self._shared(url, None)

    def read(self, url: httpx.URL, cls: type[M]) -> Coroutine[Any, Any, M]:
        """GET one ``cls`` (``model()`` of the data), shared as ``get_json``'s GETs are.

        Both return ``_shared``'s coroutine, which the proxy's method awaits itself:
        a read in flight holds no frame of the proxy's ``_read``.
        """
        return self._shared(url, cls)

    async def _shared(self, url: httpx.URL, cls: type[Any] | None) -> Any:
        """``(data, response)`` of a GET shared by concurrent callers; with ``cls``, the
        data read as one."""
        sender = self.sender()
        # The key starts with the URL, so that a write forgets the flights of every view.
        key = str(url) + self._flight_key
        flight = self._flights.lead(key)
        if flight is None:  # a GET of this URL is in flight: share its outcome
            result = await self._flights.do(key, partial(self._fetch, sender, url))
        else:
            # This call leads and sends from its own frame: a request in flight holds
            # no closure and no coroutine of the flight's (about 0.7 KB in flight).
            try:
                response = await sender.send("GET", url, **self._options)
                result = sender.decode_json(response), response
            except BaseException as exc:
                self._flights.land(key, flight, error=exc)
                raise
            self._flights.land(key, flight, result)
        return result if cls is None else self.model(result[0], cls, result[1])

    async def _fetch(self, sender: Sender, url: httpx.URL) -> tuple[Any, httpx.Response]:
        """What a caller who became the leader after waiting sends (``SingleFlight.do``)."""
        response = await sender.send("GET", url, **self._options)
        return sender.decode_json(response), response

    async def write(
        self, method: str, url: httpx.URL, *, retry_safe: bool, **options: Any
    ) -> httpx.Response:
        """Send a request that changes state; later GETs of what it changes start afresh.

        ``retry_safe`` (from the route) says whether an attempt that may have
        reached the server can be repeated; ``options`` are ``Sender.send``'s.
        """
        sender = self.sender()
        # The written resource, its sub-resources and the collection it belongs to.
        changed = str(url.copy_with(query=None)).rsplit("/", 1)[0]
        self._flights.forget_prefix(changed)
        try:
            return await sender.send(method, url, retry_safe=retry_safe, **self._options, **options)
        finally:
            self._flights.forget_prefix(changed)

    async def send(self, url: httpx.URL, **options: Any) -> httpx.Response:
        """A GET that changes nothing and is not shared (CSV, files, bare strings)."""
        return await self.sender().send("GET", url, **self._options, **options)

    # -- answers -------------------------------------------------------------------

    def decode(self, response: httpx.Response) -> Any:
        """The JSON body (None when empty); ``DecodeError`` if it is not JSON."""
        return self.sender().decode_json(response)

    def model(self, data: Any, cls: type[M], response: httpx.Response) -> M:
        try:
            return _converter.structure(data, cls, self._reading)
        except ConversionError as exc:
            raise _decode_error(exc, response) from exc
        except RecursionError:
            pass
        raise decode_error("the response is nested too deeply to read", response)

    def collection(self, data: Any, cls: type[M], response: httpx.Response) -> Collection[M]:
        if isinstance(data, list):  # some routes answer a bare JSON array
            data = {"href": str(response.request.url), "total": len(data), "items": data}
        try:
            return _converter.structure_collection(data, cls, self._reading)
        except ConversionError as exc:
            raise _decode_error(exc, response) from exc
        except RecursionError:
            pass
        raise decode_error("the response is nested too deeply to read", response)


def _decode_error(exc: ConversionError, response: httpx.Response) -> DecodeError:
    """The DecodeError of ``exc``, its cause, both quoting no secret of the link read."""
    hidden = secret_values(str(response.request.url))
    exc.errors = tuple(redact_text(line, hidden) for line in exc.errors)
    exc.args = tuple(redact_text(arg, hidden) if isinstance(arg, str) else arg for arg in exc.args)
    return decode_error(f"the response does not fit the model: {exc}", response)
