"""Every route the simulator serves, one module per resource family."""

from __future__ import annotations

from .._router import RouteSpec
from . import _billing, _bunits, _catalogs, _consumers, _jobs, _nodes, _oauth

__all__ = ["ROUTES"]

ROUTES: list[RouteSpec] = [
    *_oauth.ROUTES,
    *_bunits.ROUTES,
    *_consumers.ROUTES,
    *_jobs.ROUTES,
    *_nodes.ROUTES,
    *_catalogs.ROUTES,
    *_billing.ROUTES,
]
