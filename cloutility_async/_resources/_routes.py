"""Follow any href: match it against the route table into the matching proxy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .._exceptions import ValidationError
from .._hypermedia import Follow, Route, match
from ._base import CollectionRef, Ref, ResourceRef
from ._port import Port
from .business_units import BusinessUnitRef
from .catalog import TimeZoneRef
from .consumers import ConsumerRef
from .nodes import NodeRef

__all__ = ["ref_for_url"]

Factory = Callable[[Port, httpx.URL, Route[Any], tuple[str, ...]], Ref]

_FACTORIES: dict[Follow, Factory] = {
    Follow.RESOURCE: lambda port, url, route, _: ResourceRef(port, url, route.model),
    Follow.COLLECTION: lambda port, url, route, _: CollectionRef(port, url, route.model),
    Follow.BUNIT: lambda port, _, __, ids: BusinessUnitRef(port, ids[0]),
    Follow.CONSUMER: lambda port, _, __, ids: ConsumerRef(port, ids[0], ids[1]),
    Follow.NODE: lambda port, _, __, ids: NodeRef(port, ids[0], ids[1]),
    Follow.TIMEZONE: lambda port, _, __, ids: TimeZoneRef(port, ids[0]),
}


def ref_for_url(port: Port, href: str | httpx.URL) -> Ref:
    """The proxy for an href under the base URL; ``ValidationError`` otherwise."""
    url = port.base.under(href)
    found = match(port.base.relative(url))
    if found is None:
        raise ValidationError(f"no known route for {url}")
    route, ids = found
    assert route.follow is not None
    return _FACTORIES[route.follow](port, url, route, ids)
