"""The token lifecycle: grants, proactive refresh, single flight, fallback.

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
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from ._exceptions import APIError, AuthenticationError, CloutilityError, DecodeError

if TYPE_CHECKING:
    from ._transport import Sender

__all__ = ["Credentials", "Token", "TokenHook", "TokenManager"]

logger = logging.getLogger("cloutility_async.auth")


@attrs.frozen(repr=False)
class Token:
    """An OAuth access token with its refresh token; its repr hides both secrets."""

    access_token: str
    refresh_token: str | None
    expires_in: float
    obtained_at: float = attrs.field(factory=anyio.current_time)
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret

    @property
    def expires_at(self) -> float:
        """When the token expires, on anyio's monotonic clock."""
        return self.obtained_at + self.expires_in

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (anyio.current_time() if now is None else now)

    def __repr__(self) -> str:
        return (
            f"Token(access_token='***', refresh_token={'***' if self.refresh_token else None},"
            f" expires_in={self.expires_in:g})"
        )

    __str__ = __repr__


TokenHook = Callable[[Token], Awaitable[None] | None]


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


def _parse_token(body: Any, previous_refresh: str | None) -> Token:
    if not isinstance(body, Mapping) or not isinstance(body.get("access_token"), str):
        raise DecodeError("the token response has no access_token")
    try:
        expires_in = float(body.get("expires_in", 299))
    except (TypeError, ValueError):
        raise DecodeError("the token response has an invalid expires_in") from None
    if not math.isfinite(expires_in) or expires_in <= 0:
        raise DecodeError("the token response has an invalid expires_in")
    refresh = body.get("refresh_token")
    return Token(
        access_token=body["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh,
        expires_in=expires_in,
        token_type=str(body.get("token_type", "bearer")),
    )


@attrs.define
class TokenStatistics:
    """Counters for observing the token lifecycle (see ``Cloutility.statistics``)."""

    password_grants: int = 0
    refresh_grants: int = 0
    refresh_refused: int = 0
    proactive_refreshes: int = 0
    reactive_renewals: int = 0
    waits: int = 0


class TokenManager:
    """Owns the current token; makes grants one at a time."""

    def __init__(
        self,
        *,
        sender: Sender,
        credentials: Credentials,
        origin: str,
        refresh_margin: float,
        on_token: TokenHook | None = None,
    ) -> None:
        self._sender = sender
        self._credentials = credentials
        self._origin = origin
        self._refresh_margin = refresh_margin
        self._on_token = on_token
        self._token: Token | None = None
        self._lock = anyio.Lock()
        self._changed = anyio.Event()
        self.stats = TokenStatistics()

    def __repr__(self) -> str:
        return f"<TokenManager client_id={self._credentials.client_id!r} token={self._token!r}>"

    @property
    def current(self) -> Token | None:
        return self._token

    # -- what requests call ------------------------------------------------

    async def token(self) -> Token:
        """A valid token: the current one if it has not expired, else a new one."""
        token = self._token
        if token is not None and self._usable(token):
            return token
        self.stats.waits += 1
        return await self._renew(token)

    async def invalidate(self, used: Token) -> Token:
        """The server refused ``used`` (a 401): get a new token unless one already replaced it."""
        self.stats.reactive_renewals += 1
        return await self._renew(used, force=True)

    async def login(self) -> Token:
        """The first password grant (``async with`` calls it)."""
        return await self._renew(None, force=True)

    # -- the background refresher -------------------------------------------

    def refresh_delay(self, token: Token) -> float:
        """Seconds from now until a proactive renewal of ``token``.

        The margin is capped at half the lifetime, so a short-lived token is
        renewed at mid-life rather than continuously.
        """
        margin = min(self._refresh_margin, token.expires_in / 2)
        return max(0.0, token.seconds_left() - margin)

    async def run_refresher(self) -> None:
        """Renew the token ahead of expiry until cancelled; never raises otherwise."""
        failures = 0
        while True:
            token = self._token
            if token is None:
                delay = 0.0
            elif failures:
                delay = min(30.0, 0.5 * 2 ** (failures - 1), max(token.seconds_left() / 2, 0.05))
            else:
                delay = self.refresh_delay(token)
            with anyio.move_on_after(delay):
                # Wake early when another path (a 401, an expiry) replaced the token.
                await self._changed.wait()
            if self._token is not token:
                continue
            try:
                await self._renew(token, force=True, proactive=True)
                failures = 0
            except CloutilityError as exc:
                failures += 1
                logger.warning("cloutility.token_refresh_failed: %s (attempt %d)", exc, failures)

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _usable(token: Token) -> bool:
        # A small skew so that a token does not expire on the wire.
        return token.seconds_left() > min(2.0, token.expires_in / 10)

    async def _renew(
        self, stale: Token | None, *, force: bool = False, proactive: bool = False
    ) -> Token:
        async with self._lock:
            current = self._token
            if current is not None and current is not stale and self._usable(current):
                return current  # somebody renewed while we queued for the lock
            if current is not None and not force and self._usable(current):
                return current
            token = await self._grant(current)
            if proactive:
                self.stats.proactive_refreshes += 1
            self._token = token
            self._changed.set()
            self._changed = anyio.Event()
        await self._notify(token)
        return token

    async def _grant(self, current: Token | None) -> Token:
        if current is not None and current.refresh_token:
            try:
                token = await self._refresh_grant(current)
            except AuthenticationError as exc:
                # Refresh not allowed for this client ID, or the refresh token is dead.
                self.stats.refresh_refused += 1
                logger.info("cloutility.refresh_refused: %s; using the password grant", exc.message)
            else:
                self.stats.refresh_grants += 1
                return token
        token = await self._password_grant()
        self.stats.password_grants += 1
        return token

    async def _password_grant(self) -> Token:
        body = await self._sender.grant(
            {
                "client_id": self._credentials.client_id,
                "grant_type": "password",
                "username": self._credentials.username,
                "password": self._credentials.password,
            },
            bearer=None,
        )
        logger.debug("cloutility.token_granted: grant_type=password")
        return _parse_token(body, None)

    async def _refresh_grant(self, current: Token) -> Token:
        assert current.refresh_token is not None
        try:
            body = await self._sender.grant(
                {
                    "client_id": self._credentials.client_id,
                    "grant_type": "refresh_token",
                    "refresh_token": current.refresh_token,
                },
                # The reference sends the old bearer token along; harmless when expired.
                bearer=current.access_token,
            )
        except APIError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                raise AuthenticationError(
                    exc.message, method=exc.method, url=exc.url, status=exc.status
                ) from exc
            raise
        logger.debug("cloutility.token_granted: grant_type=refresh_token")
        return _parse_token(body, current.refresh_token)

    async def _notify(self, token: Token) -> None:
        if self._on_token is None:
            return
        try:
            result = self._on_token(token)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("cloutility.on_token_hook_failed")
