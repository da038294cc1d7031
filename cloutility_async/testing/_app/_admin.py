"""The simulator's own routes, outside the API: what a served simulator can be asked.

``GET /_simulator/stats`` answers the counters (:meth:`SimulatorStats.snapshot`), the
drift counts and the injected faults still pending; ``DELETE /_simulator/stats`` zeroes
the counters.  No token is needed, nothing is counted, no fault applies: they are for
the test or the person driving the simulator, not for the client under test.
"""

from __future__ import annotations

from .._drift import Drift
from .._errors import ApiError
from .._faults import Faults
from .._stats import SimulatorStats
from ._responses import NO_CONTENT, Response, error_response, ok

__all__ = ["ADMIN_PREFIX", "admin_response"]

ADMIN_PREFIX = "/_simulator/"


def admin_response(
    method: str, path: str, stats: SimulatorStats, faults: Faults, drift: Drift
) -> Response:
    """The answer to a request under :data:`ADMIN_PREFIX`."""
    if path.rstrip("/") != ADMIN_PREFIX + "stats":
        return error_response(ApiError(404, f"No simulator route matches '{path}'."))
    if method == "GET":
        return ok(
            {
                **stats.snapshot(),
                "drift": {"enabled": drift.enabled, "counts": dict(drift.counts)},
                "faults_pending": [repr(rule) for rule in faults.pending],
            }
        )
    if method == "DELETE":
        stats.reset()
        return NO_CONTENT
    resp = error_response(ApiError(405, f"The simulator's stats do not support '{method}'."))
    resp.headers = [(b"allow", b"DELETE, GET")]
    return resp
