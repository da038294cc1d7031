"""The :class:`Simulator`: world + auth + faults + stats behind one ASGI app."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx

from ._app import SimulatorApp
from ._auth import DEMO_CLIENT_ID, AuthState, ClientRegistration, Session, Token
from ._drift import Drift
from ._faults import Faults
from ._stats import SimulatorStats
from ._subscribers import (
    NOTIFICATION_TRIGGER,
    TEST_TRIGGER,
    BillingSubscriber,
    SubscriberTestResult,
    check_subscriber_url,
    post_notification,
)
from ._world import World

__all__ = ["DEMO_CLIENT_ID", "IN_PROCESS_BASE_URL", "Simulator"]

# The base URL of an in-process client (any works: hrefs follow the Host header).
IN_PROCESS_BASE_URL = "http://sim.test/v1/"

ClientSpec = ClientRegistration | tuple[str, str] | tuple[str, str, bool]


class Simulator:
    """An in-memory Cloutility portal served as an ASGI app (``sim.app``).

    Use it in-process with ``httpx.ASGITransport(app=sim.app)`` (any base URL works:
    every ``href`` is built from the request's scheme and ``Host`` header), or on a
    loopback socket with :meth:`serve_in_thread`.  The API lives under ``/v1/``.
    """

    def __init__(
        self,
        *,
        consumers: int = 40,
        seed: int = 0,
        client_id: str = DEMO_CLIENT_ID,
        origin: str = "https://sim.example",
        username: str = "demo",
        password: str = "demo-password",  # noqa: S107 - the simulator's own demo login
        allow_refresh: bool = True,
        token_lifetime: float = 299.0,
        latency_ms: float = 0.0,
        clients: Mapping[str, str] | Iterable[ClientSpec] | None = None,
        now: datetime | None = None,
        faults: Faults | None = None,
        drift: bool | Drift = False,
    ) -> None:
        self.world = World(consumers=consumers, seed=seed, now=now, username=username)
        self.auth = AuthState(username=username, password=password, token_lifetime=token_lifetime)
        self.faults = faults if faults is not None else Faults(latency_ms=latency_ms, seed=seed)
        self.stats = SimulatorStats()
        self._client_id = client_id
        self._username = username
        self._password = password
        self.register_client(client_id, origin, allow_refresh=allow_refresh)
        if isinstance(clients, Mapping):
            for cid, corigin in clients.items():
                self.register_client(cid, corigin)
        elif clients is not None:
            for spec in clients:
                if isinstance(spec, ClientRegistration):
                    self.auth.register(spec)
                else:
                    self.register_client(*spec)
        if isinstance(drift, Drift):
            self.drift = drift
        else:
            self.drift = Drift(enabled=drift, seed=seed)
        self.app = SimulatorApp(self.world, self.auth, self.faults, self.stats, self.drift)
        self._billing_subscribers: dict[int, BillingSubscriber] = {}
        self._next_subscriber_id = 1

    # -- credentials ----------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """The default client ID (a fixed demo GUID unless given)."""
        return self._client_id

    @property
    def origin(self) -> str:
        """The origin registered for the default client ID."""
        return self.auth.clients[self._client_id].origin

    @property
    def username(self) -> str:
        """The demo user's name (the password grant's ``username``)."""
        return self._username

    @property
    def password(self) -> str:
        """The demo user's password (the password grant's ``password``)."""
        return self._password

    @property
    def clients(self) -> dict[str, ClientRegistration]:
        """Registered client IDs (mutable: e.g. flip ``allow_refresh`` at run time)."""
        return self.auth.clients

    @property
    def token_lifetime(self) -> float:
        """Lifetime of newly issued access tokens, in seconds (may be fractional)."""
        return self.auth.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        self.auth.token_lifetime = value

    def register_client(
        self,
        client_id: str,
        origin: str,
        allow_refresh: bool = True,
        *,
        bunit_id: int | None = None,
    ) -> ClientRegistration:
        """Add a client ID; ``bunit_id`` binds it to that business unit's tree."""
        if bunit_id is not None and bunit_id not in self.world.bunits:
            raise ValueError(f"unknown business unit {bunit_id}")
        return self.auth.register(
            ClientRegistration(client_id, origin, allow_refresh=allow_refresh, bunit_id=bunit_id)
        )

    def client_options(self, base_url: str | None = None) -> dict[str, Any]:
        """Keyword arguments that bind a ``Cloutility`` client to this simulator.

        ``Cloutility(**sim.client_options())`` talks to it in-process (an
        ``httpx.ASGITransport`` over :attr:`app`, base URL ``http://sim.test/v1/``);
        ``Cloutility(**sim.client_options(base_url))`` talks to it served on a socket
        (:meth:`serve_in_thread`) with the client's default transport.  A plain dict, so
        options can be added or overridden: ``{**sim.client_options(), "max_retries": 0}``.
        """
        options: dict[str, Any] = {
            "client_id": self._client_id,
            "origin": self.origin,
            "username": self._username,
            "password": self._password,
        }
        if base_url is None:
            options["base_url"] = IN_PROCESS_BASE_URL
            options["transport"] = httpx.ASGITransport(app=self.app)
        else:
            options["base_url"] = base_url
        return options

    def environment(self, base_url: str) -> dict[str, str]:
        """The ``CLOUTILITY_*`` variables that point ``Cloutility.from_env()`` (and the
        ``cloutility`` command) at this simulator served at ``base_url``."""
        return {f"CLOUTILITY_{k.upper()}": v for k, v in self.client_options(base_url).items()}

    # -- tokens ------------------------------------------------------------------------------

    def issue_token(self, client_id: str | None = None) -> str:
        """An access token minted directly (no HTTP, not counted in ``stats.grants``)."""
        client = self.auth.clients[client_id or self._client_id]
        session = Session(secrets.token_urlsafe(32), client.client_id, self._username)
        self.auth.sessions[session.refresh_token] = session
        token: Token = self.auth.issue(client, session)
        return token.value

    def revoke_tokens(self, *, refresh_tokens: bool = False) -> None:
        """Early revocation: every access token issued so far answers 401 from now on.

        With ``refresh_tokens=True`` the login sessions die too, so refreshing fails
        (``invalid_grant``) and clients must log in with the password again.
        """
        self.auth.revoke_tokens(refresh_tokens=refresh_tokens)

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on (refresh still works)."""
        self.auth.expire_tokens()

    # -- billing subscribers -------------------------------------------------------------------

    @property
    def billing_subscribers(self) -> dict[int, BillingSubscriber]:
        """Billing subscribers by id (a copy; see :meth:`add_billing_subscriber`)."""
        return dict(self._billing_subscribers)

    def add_billing_subscriber(self, bunit_id: int, post_url: str) -> int:
        """Subscribe ``post_url`` to a business unit's new billing data; returns its id.

        Like Reseller Business Unit -> Settings -> Billing -> Subscribers -> Add.  The URL
        must be ``http://`` on a loopback host (the simulator posts nowhere else).

        Raises:
            ValueError: unknown business unit, or a URL that is not http:// on loopback.
        """
        if bunit_id not in self.world.bunits:
            raise ValueError(f"unknown business unit {bunit_id}")
        check_subscriber_url(post_url)
        subscriber_id = self._next_subscriber_id
        self._next_subscriber_id += 1
        self._billing_subscribers[subscriber_id] = BillingSubscriber(
            subscriber_id, bunit_id, post_url
        )
        return subscriber_id

    def remove_billing_subscriber(self, subscriber_id: int) -> None:
        """Remove a billing subscriber (KeyError if there is none with that id)."""
        del self._billing_subscribers[subscriber_id]

    async def test_billing_subscriber(
        self,
        url: str,
        trigger: str = TEST_TRIGGER,
        *,
        expect_timeout: float = 1.0,
        answer_timeout: float = 10.0,
    ) -> SubscriberTestResult:
        """Do what the portal's "Test" button next to the Post URL does.

        Connects to ``url`` (``anyio.connect_tcp``: asyncio or trio) and sends
        ``POST {path}?{query}`` with ``Content-Type: application/json; charset=utf-8``,
        ``Host``, ``Content-Length``, ``Expect: 100-continue`` and ``Connection: close``;
        waits up to ``expect_timeout`` seconds for an interim answer; after ``100 Continue``
        (or the wait) sends ``{"trigger":"..."}``; after an early final answer (e.g. a 401)
        never sends it.  Counted in ``stats.billing_notifications`` by final status.

        Raises:
            ValueError: ``url`` is not ``http://`` on 127.0.0.0/8, ``localhost`` or ``::1``.
            OSError: no connection, or it closed before a final answer
                (``ConnectionError``); ``TimeoutError`` after ``answer_timeout`` seconds in all.
        """
        check_subscriber_url(url)
        try:
            result = await post_notification(
                url, trigger, expect_timeout=expect_timeout, answer_timeout=answer_timeout
            )
        except OSError:
            self.stats.billing_notifications[0] += 1
            raise
        self.stats.billing_notifications[result.status] += 1
        return result

    async def notify_billing_subscribers(
        self,
        bunit_id: int,
        trigger: str = NOTIFICATION_TRIGGER,
        *,
        expect_timeout: float = 1.0,
        answer_timeout: float = 10.0,
    ) -> list[SubscriberTestResult]:
        """POST a notification to each subscriber of ``bunit_id``, one after the other.

        Returns one result per subscriber in the order they were added.  A subscriber
        that cannot be reached does not stop the others: its result has ``status`` 0 and
        the reason in ``error``.  The default trigger text is the simulator's choice (the
        reference only shows the "Test" button's).

        Raises:
            ValueError: unknown business unit.
        """
        if bunit_id not in self.world.bunits:
            raise ValueError(f"unknown business unit {bunit_id}")
        results: list[SubscriberTestResult] = []
        for subscriber in list(self._billing_subscribers.values()):
            if subscriber.bunit_id != bunit_id:
                continue
            try:
                result = await self.test_billing_subscriber(
                    subscriber.post_url,
                    trigger,
                    expect_timeout=expect_timeout,
                    answer_timeout=answer_timeout,
                )
            except OSError as exc:
                reason = str(exc) or type(exc).__name__
                result = SubscriberTestResult(0, False, False, b"", error=reason)
            results.append(result)
        return results

    # -- serving -----------------------------------------------------------------------------

    @contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on a real socket (uvicorn in a daemon thread); yields the ``/v1/`` base URL."""
        from ._server import serve_in_thread

        with serve_in_thread(self.app, host=host, port=port) as base_url:
            yield base_url

    def __repr__(self) -> str:
        return f"Simulator(client_id={self._client_id!r}, origin={self.origin!r}, {self.world!r})"
