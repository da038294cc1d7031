"""What every resource proxy shares: a client, an href, and typed requests.

A proxy is a cheap handle: building one does no I/O. Its methods build a
request, the client's sender sends it with the current token, and the
converter turns the body into a frozen model. GETs of the same URL that run
at the same time share one request; writes make later GETs start afresh.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from .._converter import ConversionError, Reading, structure, structure_collection, to_payload
from .._exceptions import DecodeError, ValidationError
from .._models import Collection
from .._transport import decode_error

if TYPE_CHECKING:
    from .._client import Cloutility

__all__ = ["Ref", "ResourceRef"]

M = TypeVar("M")


class Ref:
    """Base of all proxies: ``api`` plus the absolute ``href`` it stands for."""

    __slots__ = ("_api", "href")

    def __init__(self, api: Cloutility, href: httpx.URL | str) -> None:
        self._api = api
        self.href = api._require_api_url(href)

    @staticmethod
    def _at(api: Cloutility, path: str) -> httpx.URL:
        """The URL of ``path`` under ``base_url``, for paths built from checked ids.

        Plain string concatenation: ``URL.join`` costs several times more, and
        these are built for every proxy of a bulk run.
        """
        return httpx.URL(api._base_text + path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.href}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and type(other) is type(self) and other.href == self.href

    def __hash__(self) -> int:
        return hash((type(self), str(self.href)))

    def _url(self, path: str = "") -> httpx.URL:
        if not path:
            return self.href
        if self.href.query:
            return self.href.copy_with(path=self.href.path.rstrip("/") + "/" + path)
        return httpx.URL(str(self.href).rstrip("/") + "/" + path)

    # -- typed requests ------------------------------------------------------------

    async def _get_model(
        self, cls: type[M], path: str = "", params: dict[str, Any] | None = None
    ) -> M:
        url = self._url(path)
        if params:
            url = url.copy_merge_params(params)
        data, response = await self._api._get_shared(url)
        return _structure(data, cls, response, self._api._reading)

    async def _get_list(
        self, cls: type[M], path: str = "", params: dict[str, Any] | None = None
    ) -> list[M]:
        return list((await self._get_collection(cls, path, params)).items)

    async def _get_collection(
        self, cls: type[M], path: str = "", params: Any = None
    ) -> Collection[M]:
        url = self._url(path)
        if params:
            url = url.copy_merge_params(params)
        data, response = await self._api._get_shared(url)
        if isinstance(data, list):  # some routes answer a bare JSON array
            data = {"href": str(url), "total": len(data), "items": data}
        try:
            return structure_collection(data, cls, self._api._reading)
        except ConversionError as exc:
            raise _decode_error(exc, response) from exc

    async def _send_model(
        self,
        method: str,
        cls: type[M],
        path: str = "",
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> M:
        url = self._url(path)
        response = await self._api._write(method, url, json_body=body, params=params)
        data = self._api._require_sender().decode_json(response)
        return _structure(data, cls, response, self._api._reading)

    async def _send(
        self,
        method: str,
        path: str = "",
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        return await self._api._write(method, self._url(path), json_body=body, params=params)


class ResourceRef(Ref):
    """A proxy for any single resource of a known model type."""

    __slots__ = ("model",)

    def __init__(self, api: Cloutility, href: httpx.URL | str, model: type[Any]) -> None:
        super().__init__(api, href)
        self.model = model

    async def get(self) -> Any:
        """Fetch the full resource."""
        return await self._get_model(self.model)

    def __await__(self) -> Generator[Any, None, Any]:
        return self.get().__await__()


class CollectionRef(Ref):
    """A proxy for a linked collection: ``list()`` fetches its members."""

    __slots__ = ("model",)

    def __init__(self, api: Cloutility, href: httpx.URL | str, model: type[Any]) -> None:
        super().__init__(api, href)
        self.model = model

    async def list(self) -> list[Any]:
        """Fetch the collection's members (thin objects, as list routes send them)."""
        return await self._get_list(self.model)

    async def page(self) -> Collection[Any]:
        """Fetch the collection with its ``total``, ``offset`` and ``first``."""
        return await self._get_collection(self.model)


def _structure(data: Any, cls: type[M], response: httpx.Response, reading: Reading) -> M:
    try:
        return structure(data, cls, reading)
    except ConversionError as exc:
        raise _decode_error(exc, response) from exc


def _decode_error(exc: ConversionError, response: httpx.Response) -> DecodeError:
    return decode_error(f"the response does not fit the model: {exc}", response)


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
    if isinstance(data, str) and data.strip():
        return data
    if text and data is not None and kind in ("", "text/plain"):
        return text  # plain text that happens to read as JSON (a number, true)
    shown = f"{type(data).__name__} JSON" if data is not None else kind or "no content type"
    raise decode_error(f"expected a string, got {shown} ({len(response.content)} bytes)", response)


# Where a body that is not JSON is read as the string itself.
_TEXT_TYPES = frozenset({"", "text/plain", "application/json", "text/json"})


def payload(model: Any, what: type[Any]) -> dict[str, Any]:
    """The lossless PUT body of ``model``, which must be a ``what``."""
    if not isinstance(model, what):
        raise ValidationError(f"expected a {what.__name__}, got {type(model).__name__}")
    return to_payload(model)
