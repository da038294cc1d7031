"""The token lifecycle: grants, proactive refresh, single flight, fallback.

The token manager sends its grants through a ``send`` callable it is given and
never imports the transport: the arrow points one way, the transport asks the
manager for the current token. Every timing decision sits in ``RefreshTiming``.

One ``TokenManager`` per client. Requests ask ``token()``: while the current
token is valid that is a plain attribute read (no lock, no wait). Only when a
token has truly expired, or a request saw a 401 with it, does a caller take
the grant lock; whoever holds it makes the one grant, everybody else reuses
its result. The background ``run_refresher`` renews ahead of expiry so that in
steady state no request ever waits.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeAlias

import anyio
import attrs
import httpx

from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    CloutilityError,
    DecodeError,
    fresh_copy,
)
from ._instrumentation import Instrumentation, TokenGranted, TokenRefused
from ._records import log_event
from ._responses import decode_error, decode_json, scrub
from ._stores import MemoryTokenStore, TokenStore
from ._stores._renewal import Owner, Renewal, renew_through
from ._token import Token

__all__ = ["Credentials", "RefreshTiming", "Send", "Token", "TokenHook", "TokenManager"]

logger = logging.getLogger("cloutility_async.auth")


class Send(Protocol):
    """How the token manager sends a grant (the client passes its transport's send)."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str],
        authenticated: bool,
        retry_safe: bool,
        limited: bool,
    ) -> Awaitable[httpx.Response]: ...


@attrs.frozen
class RefreshTiming:
    """Every timing decision of the token lifecycle, as pure functions of a token."""

    #: Renew a token this many seconds before it expires ...
    margin: float = 60.0
    #: ... but at most this fraction of its lifetime before (mid-life for short tokens).
    margin_cap: float = 0.5
    #: A token counts as expired this many seconds early, so it does not expire on the
    #: wire; at most ``skew_fraction`` of its lifetime, and never more than ``margin``.
    max_skew: float = 2.0
    skew_fraction: float = 0.1
    #: After a failed proactive renewal wait this long, doubling up to ``max_backoff``.
    failure_backoff: float = 1.0
    max_backoff: float = 60.0
    #: The lifetime of a token whose response has no ``expires_in``.
    default_lifetime: float = 299.0
    #: How long a renewal waits for the token store (its lock and a read, or a save)
    #: before it grants a token of its own ...
    store_timeout: float = 10.0
    #: ... and how long renewals then leave the failing store alone.
    store_retry_after: float = 30.0

    def refresh_delay(self, token: Token) -> float:
        """Seconds from now until a proactive renewal of ``token``."""
        margin = min(self.margin, token.expires_in * self.margin_cap)
        return max(0.0, token.seconds_left() - margin)

    def usable(self, token: Token) -> bool:
        """Whether ``token`` can still be sent."""
        skew = min(self.max_skew, token.expires_in * self.skew_fraction, self.margin)
        return token.seconds_left() > skew

    def not_due(self, token: Token) -> bool:
        """Whether ``token`` is usable and not yet due for a proactive renewal."""
        return self.usable(token) and self.refresh_delay(token) > 0

    def failure_delay(self, failures: int) -> float:
        """The wait after ``failures`` (>= 1) failed proactive renewals in a row."""
        return min(self.max_backoff, self.failure_backoff * 2.0 ** (failures - 1))


#: What ``Cloutility(on_token=...)`` takes: a plain or async function called with
#: every new ``Token`` (to persist it, say); its errors are logged, never raised.
TokenHook: TypeAlias = Callable[[Token], Awaitable[None] | None]


@attrs.frozen(repr=False)
class Credentials:
    """What a password grant needs; its repr never shows the password."""

    client_id: str
    username: str
    password: str

    def __repr__(self) -> str:
        return (
            f"Credentials(client_id={self.client_id!r}, username={self.username!r}, password='***')"
        )

    __str__ = __repr__


# What an access token may hold to be sent as ``Authorization: Bearer`` (visible ASCII).
_BEARER = re.compile(r"[\x21-\x7e]+")


def _expires_in(value: Any) -> float | None:
    """``expires_in`` as seconds (a number or a numeric string), or None if unusable."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def parse_token(body: Any, previous_refresh: str | None, default_lifetime: float = 299.0) -> Token:
    """The ``Token`` of a token response; ``DecodeError`` (naming no value) if unusable."""
    if not isinstance(body, Mapping):
        raise DecodeError("the token response is not a JSON object")
    access = body.get("access_token")
    if not isinstance(access, str) or not _BEARER.fullmatch(access):
        raise DecodeError("the token response has no usable access_token")
    expires_in = _expires_in(body.get("expires_in", default_lifetime))
    if expires_in is None:
        raise DecodeError("the token response has an invalid expires_in")
    refresh = body.get("refresh_token")
    token_type = body.get("token_type", "bearer")
    return Token(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh,
        expires_in=expires_in,
        token_type=token_type if isinstance(token_type, str) else "bearer",
    )


class _GrantFlight:
    """The grant in flight and, once ``done`` is set, its token or error."""

    __slots__ = ("done", "error", "proactive", "refused", "token")

    def __init__(self, *, proactive: bool, refused: bool) -> None:
        self.done = anyio.Event()
        self.proactive = proactive
        self.refused = refused  # the server answered 401 to the token it replaces
        self.token: Token | None = None
        self.error: Exception | None = None


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, CloutilityError) else f"{type(exc).__name__}: {exc}"


@attrs.define
class TokenStatistics:
    """Counters for observing the token lifecycle (see ``Cloutility.statistics``)."""

    password_grants: int = 0
    refresh_grants: int = 0
    refresh_refused: int = 0
    proactive_refreshes: int = 0
    reactive_renewals: int = 0
    waits: int = 0
    tokens_from_store: int = 0
    token_store_failures: int = 0


class TokenManager:
    """Owns the current token; makes grants one at a time."""

    def __init__(
        self,
        *,
        send: Send,
        credentials: Credentials,
        timing: RefreshTiming | None = None,
        on_token: TokenHook | None = None,
        store: TokenStore | None = None,
        hooks: Instrumentation | None = None,
    ) -> None:
        self._send = send
        self._hooks = hooks
        self._credentials = credentials
        self.timing = RefreshTiming() if timing is None else timing
        self._owner = Owner(client_id=credentials.client_id, username=credentials.username)
        self._store: TokenStore = MemoryTokenStore() if store is None else store
        self._store_retry_at = -math.inf  # on time.monotonic(): the loop's clock may change
        self._on_token = on_token
        self._token: Token | None = None
        self._flight: _GrantFlight | None = None
        self._spawn: Callable[..., object] | None = None
        self._refused = False  # the last grant was refused: stop proactive attempts
        self._changed = anyio.Event()
        self.stats = TokenStatistics()

    def __repr__(self) -> str:
        return f"<TokenManager client_id={self._credentials.client_id!r} token={self._token!r}>"

    @property
    def current(self) -> Token | None:
        return self._token

    # -- what requests call ------------------------------------------------

    def usable_token(self) -> Token | None:
        """The current token if it can be sent now, else None (no I/O, no waiting)."""
        token = self._token
        return token if token is not None and self.timing.usable(token) else None

    async def token(self) -> Token:
        """A valid token: the current one if it has not expired, else a new one."""
        token = self._token
        if token is not None and self.timing.usable(token):
            return token
        self.stats.waits += 1
        return await self._renew(token)

    async def invalidate(self, used: Token) -> Token:
        """The server refused ``used`` (a 401): get a new token unless one already replaced it."""
        self.stats.reactive_renewals += 1
        return await self._renew(used, force=True, refused=True)

    async def login(self) -> Token:
        """The first password grant (``async with`` calls it)."""
        return await self._renew(None, force=True)

    # -- the background refresher -------------------------------------------

    async def run_refresher(self) -> None:
        """Renew the token ahead of expiry until cancelled; never raises otherwise.

        After a failed renewal it backs off exponentially (1 s doubling to 60 s).
        When the password itself is refused it stops trying on its own: the next
        request that needs a token will try (and report) the grant.
        """
        failures = 0
        while True:
            token = self._token
            if token is None or self._refused:
                delay = math.inf  # wait for a request to install a token
            elif failures:
                delay = self.timing.failure_delay(failures)
            else:
                delay = self.timing.refresh_delay(token)
            with anyio.move_on_after(delay):
                # Wake early when another path (a 401, an expiry) replaced the token.
                await self._changed.wait()
            if self._token is not token or self._refused:
                failures = 0
                continue
            try:
                await self._renew(token, force=True, proactive=True)
                failures = 0
            except Exception as exc:  # a crash here would cancel the user's `async with`
                failures += 1
                log_event(
                    logger,
                    logging.WARNING,
                    "cloutility.token_refresh_failed",
                    "%(reason)s (attempt %(attempt)d)",
                    reason=_describe(exc),
                    attempt=failures,
                )

    def bind(self, spawn: Callable[..., object]) -> None:
        """Run grants as tasks of the client's task group (``spawn`` is its start_soon)."""
        self._spawn = spawn

    # -- internals -----------------------------------------------------------

    async def _renew(
        self,
        stale: Token | None,
        *,
        force: bool = False,
        proactive: bool = False,
        refused: bool = False,
    ) -> Token:
        """The one grant in flight, started if needed; callers only wait for it.

        The grant runs in the client's task group, not in the caller's task: a
        caller that is cancelled (a deadline, a closed connection) stops waiting,
        but the grant goes on and serves everybody else.
        """
        current = self._token
        if (
            current is not None
            and self.timing.usable(current)
            and (current is not stale or not force)
        ):
            return current  # valid, and either not the refused one or nobody insists
        flight = self._flight
        if flight is None:
            flight = self._flight = _GrantFlight(proactive=proactive, refused=refused)
            if self._spawn is None:
                await self._run_grant(flight, current)
            else:
                self._spawn(self._run_grant, flight, current)
        await flight.done.wait()
        if flight.error is not None:
            raise fresh_copy(flight.error)
        assert flight.token is not None
        return flight.token

    async def _run_grant(self, flight: _GrantFlight, current: Token | None) -> None:
        try:
            renewal = await self._obtain(flight, current)
        except Exception as exc:
            flight.error = exc
            self._refused = isinstance(exc, AuthenticationError)
        else:
            token = flight.token = renewal.token
            self._refused = False
            self.stats.token_store_failures += renewal.store_failed
            if renewal.from_store:
                self.stats.tokens_from_store += 1
            elif flight.proactive:
                self.stats.proactive_refreshes += 1
            self._token = token
            self._changed.set()
            self._changed = anyio.Event()
        finally:
            if flight.token is None and flight.error is None:  # cancelled: the client closed
                flight.error = ClientStateError("the client closed while renewing its token")
            self._flight = None
            flight.done.set()
        if flight.token is not None:
            await self._notify(flight.token)

    async def _obtain(self, flight: _GrantFlight, current: Token | None) -> Renewal:
        """A renewal through the store, or without it while it is failing."""
        if time.monotonic() < self._store_retry_at:
            return Renewal(self._owner.stamp(await self._grant(current)), store_failed=True)
        renewal = await renew_through(
            self._store,
            owner=self._owner,
            stale=current,
            refused=flight.refused,
            # A proactive renewal wants a token not yet due; anything else a valid one.
            good_enough=self.timing.not_due if flight.proactive else self.timing.usable,
            grant=self._grant,
            store_timeout=self.timing.store_timeout,
        )
        if renewal.store_failed:
            self._store_retry_at = time.monotonic() + self.timing.store_retry_after
        return renewal

    async def _grant(self, current: Token | None) -> Token:
        if current is not None and current.refresh_token:
            try:
                token = await self._refresh_grant(current)
            except AuthenticationError as exc:
                # Refresh not allowed for this client ID, or the refresh token is dead.
                self.stats.refresh_refused += 1
                log_event(
                    logger,
                    logging.INFO,
                    "cloutility.refresh_refused",
                    "%(reason)s; using the password grant",
                    reason=exc.message,
                    status=exc.status,
                )
            else:
                self.stats.refresh_grants += 1
                return token
        token = await self._password_grant()
        self.stats.password_grants += 1
        return token

    async def _password_grant(self) -> Token:
        return await self._post_grant(
            {
                "client_id": self._credentials.client_id,
                "grant_type": "password",
                "username": self._credentials.username,
                "password": self._credentials.password,
            },
            bearer=None,
            previous_refresh=None,
        )

    async def _refresh_grant(self, current: Token) -> Token:
        assert current.refresh_token is not None
        refused: AuthenticationError | None = None
        try:
            token = await self._post_grant(
                {
                    "client_id": self._credentials.client_id,
                    "grant_type": "refresh_token",
                    "refresh_token": current.refresh_token,
                },
                # The reference sends the old bearer token along; harmless when expired.
                bearer=current.access_token,
                previous_refresh=current.refresh_token,
            )
        except APIError as exc:
            if exc.status is None or not 400 <= exc.status < 500 or exc.status == 429:
                raise
            refused = AuthenticationError(
                exc.message, code=exc.code, method=exc.method, url=exc.url, status=exc.status
            )
        if refused is not None:
            raise refused  # outside the `except`: the grant's own error is not chained
        return token

    async def _post_grant(
        self, form: Mapping[str, str], *, bearer: str | None, previous_refresh: str | None
    ) -> Token:
        """The grant of ``form``, reported: logged when granted, told to the hooks either way."""
        grant_type = form["grant_type"]
        started = time.perf_counter()
        try:
            token = await self._request_grant(
                form, bearer=bearer, previous_refresh=previous_refresh
            )
        except CloutilityError as exc:  # scrubbed already: no secret in its message
            elapsed = time.perf_counter() - started
            log_event(
                logger,
                logging.DEBUG,
                "cloutility.token_refused",
                "grant_type=%(grant_type)s in %(elapsed_ms).1f ms: %(error_type)s %(reason)s",
                grant_type=grant_type,
                elapsed_ms=elapsed * 1000,
                status=exc.status,
                error_type=type(exc).__name__,
                reason=exc.message,
            )
            if self._hooks:
                self._hooks.token_refused(
                    TokenRefused(
                        grant_type=grant_type,
                        status=exc.status,
                        error_type=type(exc).__name__,
                        message=exc.message,
                        elapsed=elapsed,
                    )
                )
            raise
        elapsed = time.perf_counter() - started
        log_event(
            logger,
            logging.DEBUG,
            "cloutility.token_granted",
            "grant_type=%(grant_type)s in %(elapsed_ms).1f ms, expires in %(expires_in)g s",
            grant_type=grant_type,
            elapsed_ms=elapsed * 1000,
            expires_in=token.expires_in,
        )
        if self._hooks:
            self._hooks.token_granted(
                TokenGranted(grant_type=grant_type, expires_in=token.expires_in, elapsed=elapsed)
            )
        return token

    async def _request_grant(
        self, form: Mapping[str, str], *, bearer: str | None, previous_refresh: str | None
    ) -> Token:
        """POST a form to ``oauth``; a refused grant raises ``AuthenticationError``.

        A ``DecodeError`` for an unusable token response names its method, URL
        and status. No error carries the secrets of ``form`` or ``bearer``, even
        where the server quotes them.
        """
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        secrets = [v for k, v in form.items() if k in ("password", "refresh_token")]
        if bearer:
            secrets.append(bearer)
        error: CloutilityError | None = None
        try:
            response = await self._send(
                "POST",
                "oauth",
                content=str(httpx.QueryParams(dict(form))).encode(),
                headers=headers,
                authenticated=False,
                # A grant creates nothing: retrying it is always safe.
                retry_safe=True,
                # Nor does it queue behind the requests that wait for it.
                limited=False,
            )
        except BadRequestError as exc:
            error = AuthenticationError(
                exc.message,
                code=exc.code,
                method=exc.method,
                url=exc.url,
                status=exc.status,
                server_message=exc.server_message,
                headers=exc.headers,
            )
        except CloutilityError as exc:
            error = exc
        if error is not None:
            raise scrub(error, secrets)
        try:
            return parse_token(
                decode_json(response), previous_refresh, self.timing.default_lifetime
            )
        except DecodeError as exc:
            error = decode_error(exc.message, response)
        raise scrub(error, secrets)

    async def _notify(self, token: Token) -> None:
        if self._on_token is None:
            return
        try:
            result = self._on_token(token)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log_event(
                logger,
                logging.ERROR,
                "cloutility.on_token_hook_failed",
                "the on_token callback raised; the client goes on",
                exc_info=True,
            )
