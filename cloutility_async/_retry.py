"""The whole retry policy, as pure functions: after a failed attempt, wait how long, or stop.

Nothing here sends, sleeps or reads a clock it is not given, so a policy is
tested with plain calls, without an event loop, and so is one of your own
(``Cloutility(retry=RetryPolicy(...))``). What a request *is* comes in as
arguments: its method and whether its route may be repeated after an attempt
that may have reached the server (the route table's ``retry_safe``).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

import attrs

from ._exceptions import ConfigurationError

__all__ = ["RetryPolicy", "check_policy", "policy_from_options", "repeatable", "replaced_policy"]

# Requests of these methods may be repeated after an attempt that may have arrived,
# unless their route says otherwise.
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Requests that change nothing, however often they are repeated.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Worth another attempt for a request that may be repeated.
RETRY_STATUSES = frozenset({502, 503, 504})
# The statuses whose Retry-After says when to come back.
RETRY_AFTER_STATUSES = frozenset({429, 503})


def repeatable(method: str, retry_safe: bool | None = None) -> bool:
    """Whether a request may be sent again after it may have reached the server.

    ``retry_safe`` is the route's own answer (a GET that changes state says
    False); None takes the usual one of ``method`` (in upper case).
    """
    return method in REPEATABLE_METHODS if retry_safe is None else retry_safe


def _number(name: str, *, integer: bool = False) -> Callable[[object, object, Any], None]:
    kind = "whole number" if integer else "number"

    def check(instance: object, attribute: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            raise ConfigurationError(f"{name} must be a {kind}, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"{name} must be >= 0, got {value!r}")

    return check


@attrs.frozen
class RetryPolicy:
    """Which failed attempts are tried again, how often, and after how long.

    Retried: a network failure when the request certainly never left
    (``never_sent``), or when it may be repeated; a 429 always (the portal did
    not process it); 502, 503 and 504 when the request may be repeated; a 500
    for a read that may be repeated. At most ``max_retries`` retries. Before
    retry ``n`` (1 for the first) the wait is a random time between 0 and
    ``min(backoff_max, backoff_base * 2**n)`` (exponential backoff, full
    jitter), or the server's ``Retry-After`` on 429 and 503, at most
    ``max_retry_after`` seconds.
    """

    max_retries: int = attrs.field(default=3, validator=_number("max_retries", integer=True))
    backoff_base: float = attrs.field(default=0.2, validator=_number("backoff_base"))
    backoff_max: float = attrs.field(default=10.0, validator=_number("backoff_max"))
    max_retry_after: float = attrs.field(default=60.0, validator=_number("max_retry_after"))

    def after_error(
        self,
        retry: int,
        *,
        method: str = "GET",
        retry_safe: bool | None = None,
        never_sent: bool = False,
    ) -> float | None:
        """Seconds to wait before retry ``retry`` after a network failure; None: give up.

        ``never_sent``: the connection could not even be established, so the
        server cannot have acted, and any request may be tried again.
        """
        if retry > self.max_retries or not (never_sent or repeatable(method.upper(), retry_safe)):
            return None
        return self.backoff(retry)

    def after_status(
        self,
        retry: int,
        status: int,
        *,
        method: str = "GET",
        retry_safe: bool | None = None,
        retry_after: str | None = None,
        now: float | None = None,
    ) -> float | None:
        """Seconds to wait before retry ``retry`` after an answer ``status``; None: give up.

        ``retry_after`` is the answer's ``Retry-After`` header, in seconds or as
        an HTTP date (compared with ``now``, seconds since the epoch, by default
        the wall clock).
        """
        if retry > self.max_retries or not self.retries_status(status, method, retry_safe):
            return None
        if status in RETRY_AFTER_STATUSES:
            return self.wait_for_retry_after(retry_after, retry, now)
        return self.backoff(retry)

    @staticmethod
    def retries_status(status: int, method: str = "GET", retry_safe: bool | None = None) -> bool:
        """Whether an answer with ``status`` is worth another attempt at all."""
        if status == 429:
            return True
        method = method.upper()
        if not repeatable(method, retry_safe):
            return False
        return status in RETRY_STATUSES or (status == 500 and method in READ_METHODS)

    def backoff(self, retry: int) -> float:
        """A random wait before retry ``retry``: full jitter up to the exponential ceiling."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**retry)
        import random  # seeded from os.urandom when first imported: not at import

        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def wait_for_retry_after(
        self, value: str | None, retry: int, now: float | None = None
    ) -> float:
        """The server's ``Retry-After`` (seconds or HTTP date), capped; else the backoff.

        A value that is neither (``soon``), or a date already past, gives the backoff.
        """
        seconds = _retry_after_seconds(value, time.time() if now is None else now)
        if seconds is None:
            return self.backoff(retry)
        return min(seconds, self.max_retry_after)


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds from ``now`` that a ``Retry-After`` value names, or None if unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        import email.utils  # an HTTP date, rarely sent: not loaded at import (12 ms)

        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        seconds = moment.timestamp() - now
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def policy_from_options(policy: object, **shorthands: float | None) -> RetryPolicy:
    """``Cloutility(retry=...)``, or a policy of the shorthands given (the rest default).

    ``max_retries``, ``backoff_base`` and ``max_retry_after`` are shorthands
    for the policy's fields; giving both a policy and a shorthand is refused.
    """
    given = {name: value for name, value in shorthands.items() if value is not None}
    if policy is None:
        return RetryPolicy(**given)  # type: ignore[arg-type]  # the policy checks each value
    policy = check_policy(policy)
    if given:
        raise ConfigurationError(
            f"give retry=RetryPolicy(...) or {', '.join(given)}, not both"
            " (they are shorthands for the policy's fields)"
        )
    return policy


def check_policy(policy: object) -> RetryPolicy:
    if not isinstance(policy, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy, got {type(policy).__name__}")
    return policy


def replaced_policy(
    current: RetryPolicy, retry: object = None, max_retries: int | None = None
) -> RetryPolicy:
    """``retry`` (checked) or else ``current``, with ``max_retries`` replaced when given."""
    policy = current if retry is None else check_policy(retry)
    if max_retries is None:
        return policy
    return attrs.evolve(policy, max_retries=max_retries)
