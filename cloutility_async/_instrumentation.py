"""Instrumentation hooks: what the client tells your code while it works.

Modelled on stamina's ``instrumentation``: ``Cloutility(hooks=[...])`` takes
objects with any of the ``on_*`` methods of `Hooks`, and the client calls them
with a frozen details object for each event: an HTTP attempt started and
finished, a retry scheduled, a token granted or refused, a value the models
could not read. The OpenTelemetry integration (``cloutility_async.otel``) is one
such object; a log line, a Prometheus counter or a test's list are others.

Hooks are called inline, in the task doing the work, so they must be quick
and must not block (hand slow work to a queue). A hook that raises never
breaks the request: its first failure is logged (``cloutility.hook_failed``,
with the traceback) and later ones of the same method are dropped silently.
No details object holds a secret: URLs are redacted as in the logs, and no
token, password or body is part of any.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Literal, Protocol, TypeVar

import anyio
import attrs
import httpx

from ._drift import SchemaDrift
from ._exceptions import ConfigurationError
from ._records import log_event, redact_url

__all__ = [
    "Hooks",
    "Instrumentation",
    "RequestFinished",
    "RequestStarted",
    "RetryScheduled",
    "SchemaDrift",
    "TokenGranted",
    "TokenRefused",
    "check_hooks",
    "next_request_id",
]

logger = logging.getLogger("cloutility_async.hooks")

D = TypeVar("D")

# Unique in the process, so that one hook object can serve several clients.
next_request_id: Callable[[], int] = itertools.count(1).__next__

_DEFAULT_PORTS = {"https": 443, "http": 80}

#: Why an attempt is sent again (`RequestStarted.resend`).
Resend = Literal["retry", "replay_after_401", "redirect"]


@attrs.frozen(kw_only=True)
class RequestStarted:
    """An HTTP attempt is about to be sent.

    Every attempt has its own: a retry, the replay after a 401 and each
    redirect followed are attempts of the same call, and so is each attempt of
    a token grant (``POST .../oauth``).
    """

    #: Unique in this process; the attempt's `RequestFinished` has the same.
    request_id: int
    #: ``GET``, ``POST``, ... (upper case).
    method: str
    #: The full URL, redacted as in the logs (no credentials in the query).
    url: str
    #: The host the attempt goes to, and its port (the scheme's default if none).
    host: str
    port: int
    #: 1 for a call's first attempt, 2 for the one sent after it, and so on.
    attempt: int
    #: Why this attempt is sent again: ``"retry"`` (after a failure, see
    #: `RetryScheduled`), ``"replay_after_401"`` (once, with a renewed token) or
    #: ``"redirect"``; None for a call's first attempt.
    resend: Resend | None = None


@attrs.frozen(kw_only=True)
class RequestFinished:
    """An HTTP attempt ended: answered (any status), failed or abandoned."""

    #: The attempt, as its `RequestStarted` described it.
    request: RequestStarted
    #: The answer's status, or None when no answer came.
    status: int | None
    #: Seconds from sending to the answer's whole body (or to the failure).
    elapsed: float
    #: Why no answer came, as an error class name (``ConnectError``, ``ReadTimeout``,
    #: ``ClientStateError``, ``Cancelled``); None for an answer.
    error_type: str | None = None


@attrs.frozen(kw_only=True)
class RetryScheduled:
    """A call failed and will be tried again after ``delay`` seconds."""

    method: str
    url: str
    #: 1 for the first retry of the call, 2 for the second, ...
    retry: int
    #: Seconds the call waits before it sends again (backoff or ``Retry-After``).
    delay: float
    #: The status that is retried (429, 503, ...), or None after a network failure.
    status: int | None
    #: The network failure's class name (``ConnectError``), or None after a status.
    error_type: str | None = None


@attrs.frozen(kw_only=True)
class TokenGranted:
    """The portal granted a token (the login, a refresh, a renewal after a 401)."""

    #: ``password`` or ``refresh_token``.
    grant_type: str
    #: The new token's lifetime in seconds.
    expires_in: float
    #: Seconds the grant took, its retries included.
    elapsed: float


@attrs.frozen(kw_only=True)
class TokenRefused:
    """A grant gave no token: the portal refused it, or it failed on the way.

    A refused refresh grant is followed by a password grant, with its own
    details.
    """

    #: ``password`` or ``refresh_token``.
    grant_type: str
    #: The answer's status (400 or 401 for a refusal), or None when none came.
    status: int | None
    #: The error the grant ended with (``AuthenticationError``, ``TransportError``, ...).
    error_type: str
    #: That error's message (the portal's ``error_description``; never a secret).
    message: str
    #: Seconds the grant took, its retries included.
    elapsed: float


class Hooks(Protocol):
    """What the client calls as it works; implement any of these methods.

    Subclass it and override the methods you need (the others do nothing),
    or write a class with all six (a protocol: no subclassing needed). Each method gets a frozen
    details object and returns nothing; it is called inline, in the task doing
    the work, so it must be quick and must not block.
    """

    def on_request_started(self, details: RequestStarted) -> None:
        """An HTTP attempt is about to be sent."""
        return None

    def on_request_finished(self, details: RequestFinished) -> None:
        """An HTTP attempt ended (its `RequestStarted` is ``details.request``)."""
        return None

    def on_retry_scheduled(self, details: RetryScheduled) -> None:
        """A failed call will be sent again after ``details.delay`` seconds."""
        return None

    def on_token_granted(self, details: TokenGranted) -> None:
        """The portal granted a token."""
        return None

    def on_token_refused(self, details: TokenRefused) -> None:
        """A grant gave no token."""
        return None

    def on_schema_drift(self, details: SchemaDrift) -> None:
        """The models could not read a value the portal sent (it is kept in ``unparsed``)."""
        return None


EVENTS = (
    "on_request_started",
    "on_request_finished",
    "on_retry_scheduled",
    "on_token_granted",
    "on_token_refused",
    "on_schema_drift",
)


def check_hooks(hooks: object) -> tuple[Hooks, ...]:
    """``hooks`` as a tuple, or ``ConfigurationError`` naming what is wrong with it."""
    if isinstance(hooks, (str, bytes)) or not isinstance(hooks, Iterable):
        raise ConfigurationError(
            f"hooks must be a list of hook objects, got {type(hooks).__name__}"
        )
    checked = tuple(hooks)
    for hook in checked:
        if isinstance(hook, type):
            raise ConfigurationError(
                f"hooks takes hook objects, got the class {hook.__name__}: pass {hook.__name__}()"
            )
        if not any(callable(getattr(hook, name, None)) for name in EVENTS):
            raise ConfigurationError(
                f"{type(hook).__name__} has none of the hook methods ({', '.join(EVENTS)})"
            )
    return checked


def error_type(error: BaseException) -> str:
    """The low-cardinality name of why an attempt failed: its class, ``Cancelled`` for any
    backend's cancellation."""
    if isinstance(error, anyio.get_cancelled_exc_class()):
        return "Cancelled"
    return type(error).__name__


class AttemptReport:
    """One attempt in flight: its end, answered or failed, goes to the hooks timed."""

    __slots__ = ("_instrumentation", "_started", "details")

    def __init__(self, instrumentation: Instrumentation, details: RequestStarted) -> None:
        self._instrumentation = instrumentation
        self.details = details
        self._started = time.perf_counter()

    def answered(self, status: int) -> None:
        """The attempt was answered (any status), its whole body read."""
        self._finished(status, None)

    def failed(self, error: BaseException) -> None:
        """The attempt ended without an answer; ``error`` says why."""
        self._finished(None, error_type(error))

    def _finished(self, status: int | None, error: str | None) -> None:
        self._instrumentation._emit(
            "on_request_finished",
            RequestFinished(
                request=self.details,
                status=status,
                elapsed=time.perf_counter() - self._started,
                error_type=error,
            ),
        )


class Instrumentation:
    """The hooks of one client, each event's methods looked up once.

    The client keeps None instead of an instance without hooks, so that with no
    hooks an event costs one falsy check and nothing is built.
    """

    __slots__ = ("_callbacks", "_failed", "hooks")

    def __init__(self, hooks: Iterable[Hooks]) -> None:
        self.hooks = tuple(hooks)
        self._callbacks: dict[str, tuple[tuple[Hooks, Callable[[object], None]], ...]] = {
            name: tuple(
                (hook, method)
                for hook in self.hooks
                if callable(method := getattr(hook, name, None))
                # An explicit subclass's inherited no-op is not worth a call.
                and getattr(type(hook), name, None) is not getattr(Hooks, name)
            )
            for name in EVENTS
        }
        self._failed: set[tuple[int, str]] = set()

    def request_started(self, details: RequestStarted) -> None:
        self._emit("on_request_started", details)

    # -- what the sender calls: details built from its own objects, times measured here

    def attempt_started(
        self, method: str, url: httpx.URL, attempt: int, resend: Resend | None
    ) -> AttemptReport:
        """Report an attempt about to be sent; the report its end goes to."""
        details = RequestStarted(
            request_id=next_request_id(),
            method=method,
            url=redact_url(url),
            host=url.host,
            port=url.port or _DEFAULT_PORTS.get(url.scheme, 0),
            attempt=attempt,
            resend=resend,
        )
        self._emit("on_request_started", details)
        return AttemptReport(self, details)

    def retry(
        self,
        method: str,
        url: httpx.URL,
        retry: int,
        delay: float,
        status: int | None,
        error: str | None,
    ) -> None:
        """Report a retry of a call after ``status`` or the network failure ``error``."""
        self._emit(
            "on_retry_scheduled",
            RetryScheduled(
                method=method,
                url=redact_url(url),
                retry=retry,
                delay=delay,
                status=status,
                error_type=error,
            ),
        )

    def request_finished(self, details: RequestFinished) -> None:
        self._emit("on_request_finished", details)

    def retry_scheduled(self, details: RetryScheduled) -> None:
        self._emit("on_retry_scheduled", details)

    def token_granted(self, details: TokenGranted) -> None:
        self._emit("on_token_granted", details)

    def token_refused(self, details: TokenRefused) -> None:
        self._emit("on_token_refused", details)

    def schema_drift(self, details: SchemaDrift) -> None:
        self._emit("on_schema_drift", details)

    def _emit(self, name: str, details: object) -> None:
        for hook, method in self._callbacks[name]:
            try:
                method(details)
            except Exception:  # a hook never breaks the request that reports to it
                self._report(hook, name)

    def _report(self, hook: Hooks, name: str) -> None:
        key = (id(hook), name)
        if key in self._failed:
            return
        self._failed.add(key)
        log_event(
            logger,
            logging.WARNING,
            "cloutility.hook_failed",
            "%(hook)s.%(callback)s raised; the request goes on"
            " (later failures of this hook method are not logged)",
            exc_info=True,
            hook=type(hook).__qualname__,
            callback=name,
        )
