"""The billing webhook: an ASGI app for the portal's billing subscriber endpoint.

The portal POSTs ``{"trigger": "..."}`` to a URL you host, with the ``code``
query parameter you chose and ``Expect: 100-continue``, whenever new billing
data is ready (and when you press "Test"). ``BillingWebhook`` checks the code
in constant time, parses the body, answers ``200`` at once and runs your
callback in a task group it owns, so a slow callback never makes the portal
time out. ASGI servers answer ``100 Continue`` by themselves when the app
first reads the body; the code is checked before that, so a caller with the
wrong code is refused before it sends the body.

The task group lives in the ASGI lifespan when the server runs one (uvicorn,
hypercorn), or in ``async with webhook.running():`` otherwise (a Starlette or
FastAPI mount: mounted apps get no lifespan of their own). Without a running
task group the webhook answers ``503``.

The pure parts (``parse_billing_notification``, ``code_matches``) do no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import anyio
import attrs
from anyio.abc import TaskGroup

from ._checks import check_id
from ._client import Cloutility  # loaded with the package: this module comes after it
from ._exceptions import ClientStateError, ConfigurationError, ValidationError
from ._models import BillingData
from ._records import log_event

__all__ = [
    "BillingCallback",
    "BillingNotification",
    "BillingWebhook",
    "WebhookStatistics",
    "billing_fetcher",
    "code_matches",
    "fetch_latest_billing",
    "parse_billing_notification",
]

logger = logging.getLogger("cloutility_async.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY = 64 * 1024


@attrs.frozen
class BillingNotification:
    """One notification from the portal: new billing data is available.

    ``trigger`` is the portal's text (the "Test" button sends ``"test for new
    billing data available"``); ``body`` is the request body as received.
    """

    trigger: str
    received_at: dt.datetime
    body: bytes = attrs.field(repr=False)


BillingCallback = Callable[[BillingNotification], Awaitable[None]]


@attrs.frozen
class WebhookStatistics:
    """Counters of a ``BillingWebhook`` (see ``BillingWebhook.statistics``)."""

    accepted: int
    unauthorized: int
    malformed: int
    too_large: int
    unavailable: int
    callbacks_running: int
    callbacks_succeeded: int
    callbacks_failed: int


@attrs.define
class _Counters:
    accepted: int = 0
    unauthorized: int = 0
    malformed: int = 0
    too_large: int = 0
    unavailable: int = 0
    callbacks_running: int = 0
    callbacks_succeeded: int = 0
    callbacks_failed: int = 0


# -- pure parts ------------------------------------------------------------------------


def _digest(value: bytes) -> bytes:
    # Comparing fixed-length digests hides the secret's length as well as its content.
    return hashlib.sha256(value).digest()


def code_matches(query_string: bytes, secret: str) -> bool:
    """Whether the ``code`` query parameter equals ``secret`` (constant time).

    A missing, repeated or empty ``code`` never matches.
    """
    codes = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("code", [])
    given = codes[0] if len(codes) == 1 else ""
    matches = hmac.compare_digest(_digest(given.encode()), _digest(secret.encode()))
    return matches and bool(given)


def parse_billing_notification(
    body: bytes, *, received_at: dt.datetime | None = None
) -> BillingNotification:
    """The notification in a request body ``{"trigger": "..."}``.

    Other keys are allowed (they stay in ``body``). ``received_at`` defaults to now (UTC).

    Raises:
        ValidationError: the body is not a JSON object with a string ``trigger``.
    """
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationError("the notification body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("trigger"), str):
        raise ValidationError('the notification body is not {"trigger": "..."}')
    when = received_at if received_at is not None else dt.datetime.now(dt.timezone.utc)
    return BillingNotification(trigger=data["trigger"], received_at=when, body=body)


# -- the ASGI app ----------------------------------------------------------------------


class BillingWebhook:
    """An ASGI app that receives the portal's billing notifications.

    ``secret`` is the ``code`` you put in the subscriber's Post URL
    (``https://invoicing.example/baas-report/?code=<secret>``); ``callback``
    is awaited once per accepted notification, in a task group the webhook
    owns. A callback that raises is logged (``cloutility.webhook.callback_failed``)
    and counted; it never affects other callbacks or the server.

    Answers: ``200`` accepted; ``401`` missing or wrong code (the same answer
    for both); ``400`` a body that is not ``{"trigger": "..."}``; ``405`` a
    method other than POST; ``413`` a body over ``max_body`` bytes; ``503``
    no task group is running (neither a lifespan nor ``running()``).

    On shutdown, callbacks that are running get ``shutdown_timeout`` seconds to
    finish, then are cancelled.
    """

    def __init__(
        self,
        secret: str,
        callback: BillingCallback,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        shutdown_timeout: float = 10.0,
    ) -> None:
        if not isinstance(secret, str) or not secret:
            raise ConfigurationError("secret must be a non-empty string")
        if not callable(callback):
            raise ConfigurationError("callback must be an async callable")
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
            raise ConfigurationError(f"max_body must be a whole number > 0, got {max_body!r}")
        if (
            isinstance(shutdown_timeout, bool)
            or not isinstance(shutdown_timeout, (int, float))
            or not shutdown_timeout >= 0
        ):
            raise ConfigurationError(
                f"shutdown_timeout must be a number >= 0, got {shutdown_timeout!r}"
            )
        self._secret = secret
        self._callback = callback
        self._max_body = max_body
        self._shutdown_timeout = float(shutdown_timeout)
        self._task_group: TaskGroup | None = None
        self._idle: anyio.Event | None = None
        self._counters = _Counters()

    def __repr__(self) -> str:
        state = "running" if self._task_group is not None else "stopped"
        return f"<BillingWebhook callback={self._callback!r} {state}>"

    @property
    def is_running(self) -> bool:
        """Whether a task group is open, so notifications are accepted."""
        return self._task_group is not None

    def statistics(self) -> WebhookStatistics:
        """A snapshot of the request and callback counters."""
        return WebhookStatistics(**attrs.asdict(self._counters))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[BillingWebhook]:
        """Open the task group callbacks run in, for hosts without an ASGI lifespan.

        With Starlette or FastAPI, enter it in the parent app's lifespan::

            @contextlib.asynccontextmanager
            async def lifespan(app):
                async with webhook.running():
                    yield

            app = Starlette(routes=[Mount("/baas-report", app=webhook)], lifespan=lifespan)

        Leaving waits up to ``shutdown_timeout`` seconds for running callbacks,
        then cancels them (at once if the body raised or was cancelled).

        Raises:
            ClientStateError: the webhook is already running.
        """
        if self._task_group is not None:
            raise ClientStateError("the webhook is already running")
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            graceful = False
            try:
                yield self
                graceful = True
            finally:
                # From here on new notifications get 503.
                self._task_group = None
                if graceful:
                    with anyio.move_on_after(self._shutdown_timeout, shield=True):
                        await self._wait_idle()
                task_group.cancel_scope.cancel()

    async def _wait_idle(self) -> None:
        while self._counters.callbacks_running:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"BillingWebhook does not handle {kind!r} connections")

    # -- lifespan --------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Hold the task group for the server's lifetime: this call is one long task."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        started = False
        try:
            async with self.running():
                await send({"type": "lifespan.startup.complete"})
                started = True
                while (await receive())["type"] != "lifespan.shutdown":
                    pass
        except Exception as exc:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    # -- requests --------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        counters = self._counters
        if scope.get("method") != "POST":
            await _respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        # Checked before the body is read, so the server never sends "100 Continue"
        # to a caller without the code.
        if not code_matches(scope.get("query_string", b""), self._secret):
            counters.unauthorized += 1
            await _respond(send, 401, {"error": "unauthorized"})
            return
        if self._task_group is None:
            await self._unavailable(send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max_body:
            counters.too_large += 1
            await _respond(send, 413, {"error": "body too large"})
            return
        body = await _read_body(receive, self._max_body)
        if body is None:  # the caller went away
            return
        if len(body) > self._max_body:
            counters.too_large += 1
            await _respond(send, 413, {"error": "body too large"})
            return
        try:
            notification = parse_billing_notification(body)
        except ValidationError as exc:
            counters.malformed += 1
            await _respond(send, 400, {"error": exc.message})
            return
        task_group = self._task_group
        if task_group is None:  # stopped while the body was being read
            await self._unavailable(send)
            return
        counters.callbacks_running += 1
        task_group.start_soon(self._run_callback, notification, name="cloutility-billing-webhook")
        counters.accepted += 1
        log_event(
            logger,
            logging.INFO,
            "cloutility.webhook.accepted",
            "trigger=%(trigger)r",
            trigger=notification.trigger,
        )
        await _respond(send, 200, {"status": "accepted"})

    async def _unavailable(self, send: Send) -> None:
        self._counters.unavailable += 1
        log_event(
            logger,
            logging.WARNING,
            "cloutility.webhook.not_running",
            "a notification arrived but no task group runs"
            " (use an ASGI lifespan or 'async with webhook.running()')",
        )
        await _respond(send, 503, {"error": "not running"}, [(b"retry-after", b"5")])

    async def _run_callback(self, notification: BillingNotification) -> None:
        counters = self._counters
        try:
            await self._callback(notification)
        except Exception:
            counters.callbacks_failed += 1
            log_event(
                logger,
                logging.ERROR,
                "cloutility.webhook.callback_failed",
                "trigger=%(trigger)r",
                exc_info=True,
                trigger=notification.trigger,
            )
        else:
            counters.callbacks_succeeded += 1
        finally:
            counters.callbacks_running -= 1
            if not counters.callbacks_running and self._idle is not None:
                self._idle.set()
                self._idle = None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, stopping once past ``limit``; None if the caller disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit or not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: dict[str, str],
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    content = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


# -- fetching billing data on notification ---------------------------------------------


def _invoice_day(data: BillingData) -> dt.date | None:
    if data.invoice_date is not None:
        return data.invoice_date.date()
    if data.invoice_date_str:
        try:
            return dt.date.fromisoformat(data.invoice_date_str[:10])
        except ValueError:
            return None
    return None


async def fetch_latest_billing(api: Cloutility, bunit_id: int | str) -> BillingData | None:
    """The newest billing data of a (reseller) business unit, or None if it has none.

    Lists ``billing`` (without forecasts), picks the latest invoice date and
    fetches that date's full ``BillingData`` (list items may be thinner).
    """
    bunit = api.bunit(bunit_id)
    dated = [(day, item) for item in await bunit.billing() if (day := _invoice_day(item))]
    if not dated:
        return None
    newest = max(dated, key=lambda pair: pair[0])[0]
    return await bunit.billing_for(newest)


def billing_fetcher(
    api: Cloutility,
    bunit_id: int | str,
    on_data: Callable[[BillingData, BillingNotification], Awaitable[None]],
) -> BillingCallback:
    """A ``BillingWebhook`` callback: fetch the newest billing data, hand it to ``on_data``.

    ``api`` must be open (``async with api``) while notifications arrive, e.g.
    entered in the same lifespan as the webhook. If the business unit has no
    billing data yet, ``on_data`` is not called.
    """
    check_id(bunit_id, "bunit_id")

    async def fetch(notification: BillingNotification) -> None:
        data = await fetch_latest_billing(api, bunit_id)
        if data is None:
            log_event(
                logger,
                logging.INFO,
                "cloutility.webhook.no_billing_data",
                "business unit %(bunit_id)s",
                bunit_id=bunit_id,
            )
            return
        await on_data(data, notification)

    return fetch
