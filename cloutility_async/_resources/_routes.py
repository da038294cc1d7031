"""Follow any href: match it against the route table into the matching proxy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from .._exceptions import ValidationError
from .._hypermedia import Follow, Route, match
from ._base import CollectionRef, Ref, ResourceRef
from ._port import Port
from .business_units import BusinessUnitRef
from .catalog import TimeZoneRef
from .consumers import ConsumerRef
from .nodes import NodeRef

if TYPE_CHECKING:
    from .._models import Model

    Factory = Callable[[Port, httpx.URL, Route[Any], tuple[str, ...]], Ref]

__all__ = ["proxy_class", "ref_for_url"]

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
    ref = _FACTORIES[route.follow](port, url, route, ids)
    if url.query:
        # A proxy built from ids makes its href from them: the link's own query (a
        # signed link's token, a view) would be dropped, and the link refused.
        ref._href = url
    return ref


@functools.cache
def _model_proxies() -> tuple[tuple[type[Model], type[Ref]], ...]:
    from .._models import BusinessUnit, Collection, Consumer, Node, TimeZone  # on first use

    return (
        (Consumer, ConsumerRef),
        (BusinessUnit, BusinessUnitRef),
        (Node, NodeRef),
        (TimeZone, TimeZoneRef),
        (Collection, CollectionRef),
    )


def proxy_class(model: Model) -> type[Ref] | None:
    """The proxy class the href of ``model`` must give (None: a ``ResourceRef`` of its class)."""
    return next((proxy for kind, proxy in _model_proxies() if isinstance(model, kind)), None)
