"""Counters the simulator keeps so tests can assert on what a client did.

The annotations are evaluated (no ``from __future__ import annotations``): the
class says ``cloutility_async.testing``, where ``Counter`` is not a name, and
``typing.get_type_hints`` must still read them.
"""

from collections import Counter
from typing import Any

__all__ = ["SimulatorStats"]


class SimulatorStats:
    """Cheap request counters, updated by the app on every request.

    * ``grants``: successful token grants by grant type (``password``, ``refresh_token``).
    * ``requests``: every request by route template, e.g. ``"GET /bunits/{id}/consumers/{id}"``
      (unmatched paths count as ``"GET <unknown>"``).
    * ``statuses``: responses by status code (faults included).
    * ``rejections``: refused requests by reason (``missing_token``, ``invalid_token``,
      ``expired_token``, ``revoked``, ``missing_origin``, ``bad_origin``, and for
      ``/oauth``: ``invalid_client``, ``invalid_grant``, ``refresh_refused``,
      ``unsupported_grant_type``).
    * ``creates``: successful creations by name (consumers by their bare name; business
      units as ``"bunit:<name>"``, nodes as ``"node:<consumer name>"``, invoice files as
      ``"invoicefile:<file name>"``), to catch duplicated POSTs.
    * ``faults_injected``: faults served, by kind (``latency``, ``rate_limit``,
      ``server_error``, ``html_error``, ``drop``, ``injected``).
    * ``in_flight`` / ``peak_in_flight``: concurrent requests inside the app.
    * ``billing_notifications``: billing notifications the simulator POSTed to
      subscribers (the "Test" button and ``notify_billing_subscribers``), by the final
      status code the subscriber answered (``0``: no final answer).
    """

    __slots__ = (
        "billing_notifications",
        "creates",
        "faults_injected",
        "grants",
        "in_flight",
        "peak_in_flight",
        "rejections",
        "requests",
        "requests_total",
        "statuses",
    )

    grants: Counter[str]
    requests: Counter[str]
    statuses: Counter[int]
    rejections: Counter[str]
    creates: Counter[str]
    faults_injected: Counter[str]
    billing_notifications: Counter[int]
    requests_total: int
    in_flight: int
    peak_in_flight: int

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero every counter (``in_flight`` keeps counting requests still running)."""
        self.grants = Counter({"password": 0, "refresh_token": 0})
        self.requests = Counter()
        self.statuses = Counter()
        self.rejections = Counter()
        self.creates = Counter()
        self.faults_injected = Counter()
        self.billing_notifications = Counter()
        self.requests_total = 0
        self.peak_in_flight = self.in_flight

    @property
    def grants_total(self) -> int:
        """Successful token grants of any type."""
        return sum(self.grants.values())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy of every counter."""
        return {
            "grants": dict(self.grants),
            "grants_total": self.grants_total,
            "requests": dict(self.requests),
            "requests_total": self.requests_total,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "rejections": dict(self.rejections),
            "creates": dict(self.creates),
            "faults_injected": dict(self.faults_injected),
            "billing_notifications": {str(k): v for k, v in self.billing_notifications.items()},
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
        }

    def __repr__(self) -> str:
        return (
            f"SimulatorStats(requests_total={self.requests_total}, "
            f"grants={dict(self.grants)}, rejections={dict(self.rejections)})"
        )
