"""What every resource proxy shares: a port, an href, and typed requests by route.

A proxy is a cheap handle: building one does no I/O. Its methods pick a route
of the table in ``_hypermedia``, fill in its ids, and hand the request to the
port; the port's sender sends it with the current token, and the converter
turns the body into a frozen model. GETs of the same URL that run at the same
time share one request; writes make later GETs start afresh.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Generator
from typing import Any, Generic, Protocol, TypeVar

import httpx

from .. import _converter
from .. import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from .._exceptions import ValidationError
from .._hypermedia import Params, Route, with_params
from .._records import redact_url
from .._transport import decode_error
from ._port import Port

__all__ = ["CollectionRef", "HasPort", "Ref", "ResourceRef", "payload", "port_of", "read_string"]

M = TypeVar("M")


class HasPort(Protocol):
    """A client: what a proxy can be built from besides a port."""

    @property
    def _port(self) -> Port: ...


def port_of(source: Port | HasPort) -> Port:
    return source if isinstance(source, Port) else source._port


class Ref:
    """Base of all proxies: a port plus the absolute ``href`` it stands for.

    ``Ref(api, href)`` takes an href (absolute, or relative to ``base_url``)
    and raises ``ValidationError`` for one outside the API, before any I/O.
    A proxy bound to a route at ids builds its href on first use: most are
    made for one request, which builds its own URL (see `_url`).
    """

    __slots__ = ("_href", "_ids", "_port", "_route")

    def __init__(self, api: Port | HasPort, href: httpx.URL | str) -> None:
        self._port = port_of(api)
        self._href: httpx.URL | None = self._port.base.under(href)
        self._ids: tuple[int, ...] = ()
        self._route: Route[Any] | None = None

    def _bind(self, api: Port | HasPort, route: Route[Any], *ids: int) -> None:
        """Stand for ``route`` at checked ``ids``: the href is built (not parsed) when used."""
        self._port = api if type(api) is Port else port_of(api)
        self._ids = ids
        self._route = route
        self._href = None

    @property
    def href(self) -> httpx.URL:
        """The absolute URL this proxy stands for."""
        href = self._href
        if href is None:
            assert self._route is not None
            href = self._href = self._port.base.at(self._route.path(*self._ids))
        return href

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redact_url(self.href)}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and type(other) is type(self) and other.href == self.href

    def __hash__(self) -> int:
        return hash((type(self), str(self.href)))

    # -- typed requests by route ---------------------------------------------------

    def _url(self, route: Route[Any], *more: object, params: Params | None = None) -> httpx.URL:
        """The URL of ``route`` at this proxy's ids, then ``more`` (checked) values."""
        if route is self._route and not more:
            return self.href if params is None else with_params(self.href, params)
        return with_params(self._port.base.at(route.path(*self._ids, *more)), params)

    # Each request method awaits the port itself: a coroutine less in the chain that
    # every suspension of the request passes through, twice.

    def _read(
        self, route: Route[M], *more: object, params: Params | None = None
    ) -> Coroutine[Any, Any, M]:
        """GET one model of ``route`` (shared with concurrent GETs of the same URL): the
        port's coroutine, which the public method awaits (no frame of ``_read`` in flight)."""
        return self._port.read(self._url(route, *more, params=params), route.model)

    async def _list(self, route: Route[M], *more: object, params: Params | None = None) -> list[M]:
        port = self._port
        data, response = await port.get_json(self._url(route, *more, params=params))
        return list(port.collection(data, route.model, response).items)

    async def _page(
        self, route: Route[M], *more: object, params: Params | None = None
    ) -> models.Collection[M]:
        return await self._collection_at(self._url(route, *more, params=params), route.model)

    async def _read_string(self, route: Route[str], params: Params | None = None) -> str:
        """A route that answers a bare string: a safe one as a plain GET, else as a write."""
        url = self._url(route, params=params)
        if route.retry_safe:
            return read_string(await self._port.send(url))
        return read_string(await self._port.write(route.method, url, retry_safe=False))

    async def _write(
        self,
        route: Route[M],
        *more: object,
        body: Any = None,
        params: Params | None = None,
        **options: Any,
    ) -> httpx.Response:
        """Send ``route`` (a write), retried only as far as the route allows."""
        url = self._port.base.at(route.path(*self._ids, *more))
        return await self._port.write(
            route.method,
            url,
            retry_safe=route.retry_safe,
            json_body=body,
            params=params,
            **options,
        )

    async def _write_model(
        self,
        route: Route[M],
        *more: object,
        body: Any = None,
        params: Params | None = None,
    ) -> M:
        response = await self._write(route, *more, body=body, params=params)
        return self._port.model(self._port.decode(response), route.model, response)

    # -- requests at an href -------------------------------------------------------

    async def _model_at(self, url: httpx.URL, cls: type[M]) -> M:
        data, response = await self._port.get_json(url)
        return self._port.model(data, cls, response)

    async def _collection_at(self, url: httpx.URL, cls: type[M]) -> models.Collection[M]:
        data, response = await self._port.get_json(url)
        return self._port.collection(data, cls, response)


class ResourceRef(Ref, Generic[M]):
    """A proxy for any single resource of a known model type ``M``."""

    __slots__ = ("model",)

    def __init__(self, api: Port | HasPort, href: httpx.URL | str, model: type[M]) -> None:
        super().__init__(api, href)
        self.model = model

    async def get(self) -> M:
        """Fetch the full resource."""
        return await self._model_at(self.href, self.model)

    def __await__(self) -> Generator[Any, None, M]:
        return self.get().__await__()


class CollectionRef(Ref, Generic[M]):
    """A proxy for a linked collection of ``M``: ``list()`` fetches its members."""

    __slots__ = ("model",)

    def __init__(self, api: Port | HasPort, href: httpx.URL | str, model: type[M]) -> None:
        super().__init__(api, href)
        self.model = model

    async def list(self) -> list[M]:
        """Fetch the collection's members (thin objects, as list routes send them)."""
        return list((await self.page()).items)

    async def page(self) -> models.Collection[M]:
        """Fetch the collection with its ``total``, ``offset`` and ``first``."""
        return await self._collection_at(self.href, self.model)


def read_string(response: httpx.Response) -> str:
    """The text of a route that answers a string, as a JSON string or as plain text.

    The reference shows bare JSON strings (``"1.0.4480.0"``); a plain-text
    body (``text/plain``, or no content type) is taken as it is, without the
    whitespace around it. An empty body, JSON of another type, or another
    media type (an HTML maintenance page) is a ``DecodeError``.
    """
    kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    text = response.content.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
        if kind in _TEXT_TYPES:
            return text
    except RecursionError:
        data = _TOO_DEEP
    if data is _TOO_DEEP:
        raise decode_error(f"the JSON body is nested too deeply ({len(text)} bytes)", response)
    if isinstance(data, str) and data.strip():
        return data
    if text and data is not None and kind in ("", "text/plain"):
        return text  # plain text that happens to read as JSON (a number, true)
    shown = f"{type(data).__name__} JSON" if data is not None else kind or "no content type"
    raise decode_error(f"expected a string, got {shown} ({len(response.content)} bytes)", response)


_TOO_DEEP = object()  # json.loads ran out of stack
# Where a body that is not JSON is read as the string itself.
_TEXT_TYPES = frozenset({"", "text/plain", "application/json", "text/json"})


def payload(model: Any, route: Route[Any]) -> dict[str, Any]:
    """The lossless PUT body of ``model``, which must be a model of ``route``."""
    what = route.model
    if not isinstance(model, what):
        raise ValidationError(f"expected a {what.__name__}, got {type(model).__name__}")
    return _converter.to_payload(model)
