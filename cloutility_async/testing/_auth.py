"""OAuth password/refresh grants and bearer-token checks, like the portal's OWIN server."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AuthState", "ClientRegistration", "GrantError", "Session", "Token"]

DEMO_CLIENT_ID = "3c1f1e9e-6b1a-4d0e-9f2b-5a7c8d9e0f11"


@dataclass
class ClientRegistration:
    """An API client ID as created under Settings -> API access.

    ``bunit_id`` binds the client ID to a business unit and its descendants
    (``None``: the user's own business unit).
    """

    client_id: str
    origin: str
    allow_refresh: bool = True
    bunit_id: int | None = None
    name: str = "API client"


@dataclass
class Session:
    """One password login; its refresh token stays the same across refreshes."""

    refresh_token: str
    client_id: str
    username: str
    revoked: bool = False
    refreshes: int = 0


class Token:
    """An issued access token."""

    __slots__ = ("client", "expires_at", "revoked", "session", "value")

    def __init__(
        self, value: str, client: ClientRegistration, session: Session, expires_at: float
    ) -> None:
        self.value = value
        self.client = client
        self.session = session
        self.expires_at = expires_at
        self.revoked = False


class GrantError(Exception):
    """An OAuth error answer (always HTTP 400 at the token endpoint)."""

    def __init__(self, error: str, description: str, reason: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.reason = reason


class AuthState:
    """Registered clients, users, sessions and tokens."""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        token_lifetime: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users: dict[str, str] = {username: password}
        self.clients: dict[str, ClientRegistration] = {}
        self.sessions: dict[str, Session] = {}
        self.tokens: dict[str, Token] = {}
        self.token_lifetime = token_lifetime
        self.clock = clock
        self._lock = threading.Lock()

    def register(self, registration: ClientRegistration) -> ClientRegistration:
        """Add (or replace) a client ID."""
        self.clients[registration.client_id] = registration
        return registration

    def _client_for(self, client_id: str, origin: str | None) -> ClientRegistration:
        client = self.clients.get(client_id)
        if client is None:
            raise GrantError("invalid_client", "Client ID is not valid.", "invalid_client")
        if origin is None:
            raise GrantError("invalid_client", "The Origin header is required.", "missing_origin")
        if origin != client.origin:
            raise GrantError(
                "invalid_client",
                f"Origin '{origin}' is not allowed for this client ID.",
                "bad_origin",
            )
        return client

    def issue(self, client: ClientRegistration, session: Session) -> Token:
        """Mint an access token for a session."""
        value = secrets.token_urlsafe(32)
        token = Token(value, client, session, self.clock() + float(self.token_lifetime))
        with self._lock:
            if len(self.tokens) > 50_000:
                self._prune()
            self.tokens[value] = token
        return token

    def _prune(self) -> None:
        # Forget tokens that expired long ago (keeps memory flat under load tests);
        # recently expired ones stay so clients still get "expired" rather than "invalid".
        horizon = self.clock() - max(600.0, float(self.token_lifetime))
        self.tokens = {k: t for k, t in self.tokens.items() if t.expires_at > horizon}

    def password_grant(
        self, client_id: str, origin: str | None, username: str, password: str
    ) -> Token:
        """Log in; a new session (and refresh token) per login."""
        client = self._client_for(client_id, origin)
        expected = self.users.get(username)
        if expected is None or not secrets.compare_digest(expected, password):
            raise GrantError(
                "invalid_grant", "The user name or password is incorrect.", "invalid_grant"
            )
        session = Session(secrets.token_urlsafe(32), client.client_id, username)
        self.sessions[session.refresh_token] = session
        return self.issue(client, session)

    def refresh_grant(self, client_id: str, origin: str | None, refresh_token: str) -> Token:
        """A new access token for an existing session."""
        client = self._client_for(client_id, origin)
        if not client.allow_refresh:
            raise GrantError(
                "invalid_grant",
                "Refresh tokens are not allowed for this client ID.",
                "refresh_refused",
            )
        session = self.sessions.get(refresh_token)
        if session is None or session.revoked or session.client_id != client.client_id:
            raise GrantError("invalid_grant", "The refresh token is invalid.", "invalid_grant")
        session.refreshes += 1
        return self.issue(client, session)

    def check(self, authorization: bytes | None, origin: bytes | None) -> Token | str:
        """The token behind an ``Authorization`` header, or the rejection reason."""
        if not authorization:
            return "missing_token"
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not value:
            return "invalid_token"
        token = self.tokens.get(value.strip())
        if token is None:
            return "invalid_token"
        if token.revoked or token.session.revoked:
            return "revoked"
        if self.clock() >= token.expires_at:
            return "expired_token"
        if origin is None:
            return "missing_origin"
        if origin.decode("latin-1") != token.client.origin:
            return "bad_origin"
        return token

    def revoke_tokens(self, *, refresh_tokens: bool = False) -> None:
        """Every access token issued so far stops working (and refresh tokens if asked)."""
        with self._lock:
            for token in self.tokens.values():
                token.revoked = True
        if refresh_tokens:
            for session in self.sessions.values():
                session.revoked = True

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on."""
        now = self.clock()
        with self._lock:
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, now)
