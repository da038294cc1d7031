"""The client: options, ``async with`` lifecycle, and the API's entry points."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from functools import partial
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import anyio
import httpx
import sniffio

from . import _hypermedia as routes
from . import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from ._auth import Credentials, RefreshTiming, Token, TokenHook, TokenManager
from ._background import Background
from ._checks import check_id, check_name
from ._concurrency import MapStream, check_concurrency, limiter_for
from ._converter import Reading
from ._drift import DriftLog, SchemaDrift
from ._exceptions import ClientStateError, ConfigurationError, ValidationError
from ._hypermedia import action_request, repeatable
from ._instrumentation import Hooks, Instrumentation, check_hooks
from ._interception import httpx_is_intercepted
from ._option_checks import (
    check_base_url,
    check_callback,
    check_flag,
    check_origin,
    check_timeout,
    check_token_store,
    check_transport,
    positive,
    require_text,
)
from ._options import ClientOptions, Unpack, check_options
from ._resources._base import CollectionRef, Ref, ResourceRef
from ._resources._port import Port
from ._resources._routes import proxy_class, ref_for_url
from ._resources.business_units import BusinessUnitRef
from ._resources.catalog import TimeZoneRef
from ._resources.consumers import ConsumerRef
from ._resources.nodes import NodeRef
from ._retry import RetryPolicy, policy_from_options, replaced_policy
from ._statistics import NOTHING_YET, ClientStatistics, snapshot
from ._stores import TokenStore
from ._transport import Sender
from ._version import __version__
from ._walk import ConsumerEntry, UnitError, UnitErrors, check_unit_errors, walk

__all__ = ["DEFAULT_BASE_URL", "ClientStatistics", "Cloutility", "ConsumerEntry", "UnitError"]

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M")
AnyModel = TypeVar("AnyModel", bound="models.Model")

logger = logging.getLogger("cloutility_async")

DEFAULT_BASE_URL = "https://portal-api.backup.sto2.safedc.net/v1/"
ENV_VARS = {
    "client_id": "CLOUTILITY_CLIENT_ID",
    "origin": "CLOUTILITY_ORIGIN",
    "username": "CLOUTILITY_USERNAME",
    "password": "CLOUTILITY_PASSWORD",
}


# What ``ref()`` promises for each kind of model (its overloads say the same).


class Cloutility:
    """An async client for the Cloutility REST API.

    Use it as ``async with Cloutility(...) as api:``. Entering logs in with
    the password grant and starts a background task that renews the token
    ahead of expiry; leaving stops it and closes every connection. A closed
    client can be entered again (a fresh session each time), so one client
    can live in a module and serve each lifespan of a web app. All requests
    share one capacity limiter of ``max_concurrency`` slots.

    Every argument is checked here: a bad value raises ``ConfigurationError``
    before any request is sent.

    Args:
        client_id: The API client's ID, as registered in the portal
            (Settings, API access).
        origin: The ``Origin`` registered with that client ID; it is sent with
            every request and the portal refuses any other.
        username: The portal user the client logs in as (password grant).
        password: That user's password. It is never logged or shown in a repr.
        base_url: The API root; credentials and the bearer token go only to its
            scheme, host and port.
        max_concurrency: Requests in flight at once, shared by everything the
            client does (proxies, ``map()``, ``walk_consumers()``).
        retry: The whole retry policy (``RetryPolicy()`` by default): which
            failures are retried per route, how often, after how long.
        max_retries: Shorthand for ``RetryPolicy(max_retries=...)``: retries of
            a failed request (default 3). 0 turns retries off.
        timeout: Seconds for each of connect, read, write and the pool wait of
            an attempt, or an ``httpx.Timeout``.
        refresh_margin: Renew the access token this many seconds before it
            expires (capped at half the token's lifetime).
        transport: Any ``httpx.AsyncBaseTransport``, e.g.
            ``httpx.ASGITransport(app=sim.app)`` or
            ``httpx.MockTransport(router.async_handler)`` in tests. Default: an
            aiohttp-backed transport on asyncio, an h11 one over anyio sockets
            on trio, httpx's own while respx or pytest-httpx is mocking httpx.
        on_token: Called (plain or async function) with every new ``Token``,
            e.g. to persist it; an error in it is logged, never raised.
        token_store: Where the token is kept and shared (a ``TokenStore``):
            clients sharing a ``FileTokenStore`` (one host) or a
            ``RedisTokenStore`` (any hosts) make one grant between them. A
            store that fails is logged (``cloutility.token_store_unavailable``)
            and the client goes on with a token of its own. Default: a
            ``MemoryTokenStore`` of its own.
        backoff_base: Shorthand for ``RetryPolicy(backoff_base=...)``: seconds
            of the first retry's backoff ceiling (default 0.2, doubling).
        max_retry_after: Shorthand for ``RetryPolicy(max_retry_after=...)``: the
            longest ``Retry-After`` honoured (default 60 s).
        strict: Raise ``DecodeError`` (naming the model and field path) for a
            value the models cannot read. By default such a field gets its
            default, the value is kept in the model's ``unparsed``, and the
            drift is logged once per model and field (``cloutility.schema_drift``)
            and counted in ``statistics()``.
        hooks: Objects told of what the client does (see `Hooks`): each HTTP
            attempt started and finished, retries, token grants and refusals,
            schema drift; ``OpenTelemetryHooks`` (``cloutility_async.otel``)
            turns them into spans and metrics. A hook that raises is logged
            once and never breaks a request.
    """

    def __init__(
        self,
        *,
        client_id: str,
        origin: str,
        username: str,
        password: str,
        base_url: str = DEFAULT_BASE_URL,
        max_concurrency: int = 16,
        max_retries: int | None = None,
        timeout: float | httpx.Timeout = 30.0,
        refresh_margin: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        on_token: TokenHook | None = None,
        backoff_base: float | None = None,
        max_retry_after: float | None = None,
        strict: bool = False,
        token_store: TokenStore | None = None,
        hooks: Iterable[Hooks] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self._credentials = Credentials(
            client_id=require_text("client_id", client_id),
            username=require_text("username", username),
            password=require_text("password", password),
        )
        self._origin = check_origin(origin)
        base = check_base_url(base_url)  # its path ends with "/"
        self._base_url = base.url
        self._max_concurrency: int = positive("max_concurrency", max_concurrency, integer=True)
        self._retry = policy_from_options(
            retry,
            max_retries=max_retries,
            backoff_base=backoff_base,
            max_retry_after=max_retry_after,
        )
        self._timeout = check_timeout(timeout)
        self._refresh_margin: float = positive("refresh_margin", refresh_margin, allow_zero=True)
        self._transport_option = check_transport(transport)
        self._on_token = check_callback("on_token", on_token)
        self._token_store = check_token_store(token_store)
        self._sender: Sender | None = None
        self._auth: TokenManager | None = None
        self._stack: AsyncExitStack | None = None
        self._closed = False
        self._task_group: anyio.abc.TaskGroup | None = None
        strict = check_flag("strict", strict)
        # How the proxies read bodies: this client's own drift log hears of what cannot be read.
        self._drift = DriftLog()
        # All the proxies see of the client: opened with each session's sender.
        checked_hooks = check_hooks(hooks)
        # None without hooks: every event then costs one falsy check.
        self._hooks = Instrumentation(checked_hooks) if checked_hooks else None
        report = self._drift.record if self._hooks is None else self._drift_reporter(self._hooks)
        self._port = Port(base, Reading(strict=strict, report=report))
        self._root = Ref(self._port, base.url)  # for the routes at the base itself
        self._owner: int | None = None  # the task that entered: it alone exits the task group
        self._background: Background | None = None  # refresher, grants, map runs
        self._shutdown: anyio.Event | None = None
        self._viewed = self  # whose session this client uses (another for with_options())

    def _drift_reporter(self, hooks: Instrumentation) -> Callable[[SchemaDrift], None]:
        def report(drift: SchemaDrift) -> None:
            self._drift.record(drift)
            hooks.schema_drift(drift)

        return report

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ClientOptions]
    ) -> Cloutility:
        """Build a client from ``CLOUTILITY_*`` variables; ``options`` override them.

        Reads ``CLOUTILITY_CLIENT_ID``, ``CLOUTILITY_ORIGIN``, ``CLOUTILITY_USERNAME``,
        ``CLOUTILITY_PASSWORD`` and, optionally, ``CLOUTILITY_BASE_URL``. ``options``
        are any of the constructor's keyword arguments (``ClientOptions``).

        Raises:
            ConfigurationError: naming the first missing variable, or an option
                the client does not take (``max_concurency=8``).
        """
        check_options(options)
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for option, var in ENV_VARS.items():
            if option in options:
                continue
            value = env.get(var, "")
            if not value.strip():
                raise ConfigurationError(f"environment variable {var} is not set")
            values[option] = value
        base_url = env.get("CLOUTILITY_BASE_URL", "").strip()
        if base_url and "base_url" not in options:
            values["base_url"] = base_url
        values.update(options)
        return cls(**values)

    def __repr__(self) -> str:
        client = self._viewed
        state = "closed" if client._closed else "open" if client._sender else "new"
        return (
            f"<Cloutility base_url={str(self._base_url)!r}"
            f" client_id={self._credentials.client_id!r}"
            f" username={self._credentials.username!r} {state}"
            f"{'' if client is self else ' (a with_options view)'}>"
        )

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> Cloutility:
        """A light view of this client whose calls use other timeouts or retries.

        As openai's ``with_options``: the view shares the client's session
        (connections, token, limiter, statistics) and is not entered itself;
        its calls and its proxies' use its ``timeout`` (per attempt) and retry
        policy (``retry`` or the client's, ``max_retries`` replaced if given).
        """
        policy = replaced_policy(self._retry, retry, max_retries)
        view = copy.copy(self)
        view._retry = policy
        view._timeout = self._timeout if timeout is None else check_timeout(timeout)
        view._port = self._port.with_options(retry=policy, timeouts=view._timeout.as_dict())
        view._root = Ref(view._port, self._base_url)
        return view

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> Cloutility:
        """Open a session: connections, a login, the refresher (see the class docstring).

        A closed client can be entered again, each time with a fresh session,
        so one module-level client serves every lifespan of a web app.
        """
        if self._viewed is not self:
            raise ClientStateError("a with_options() view is not entered: enter its client")
        if self._stack is not None:
            raise ClientStateError("this Cloutility client is already open")
        stack = AsyncExitStack()
        self._stack, self._closed = stack, False
        # This session's own: the task that entered, its background tasks, its close.
        self._owner = anyio.get_current_task().id
        self._background, self._shutdown = None, None
        try:
            sender = Sender(
                transport=self._transport_option or self._default_transport(),
                base_url=self._base_url,
                origin=self._origin,
                limiter=limiter_for(self._max_concurrency),
                retry=self._retry,
                timeout=self._timeout,
                user_agent=f"cloutility-async/{__version__}",
                # The token manager sends its grants through the sender, which asks it for tokens.
                auth=partial(
                    TokenManager,
                    credentials=self._credentials,
                    timing=RefreshTiming(margin=self._refresh_margin),
                    on_token=self._on_token,
                    store=self._token_store,
                    hooks=self._hooks,
                ),
                hooks=self._hooks,
            )
            auth = sender.token_manager()
            self._sender, self._auth = sender, auth
            self._port.open(sender)
            stack.push_async_callback(self._shut_down)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            self._task_group = task_group
            background = self._background = Background(task_group)
            auth.bind(lambda fn, *args: background.start(partial(fn, *args)))
            await auth.login()
            background.start(auth.run_refresher, name="cloutility-token-refresher")
        except BaseException:
            self._stack, self._closed = None, True
            self._port.close()
            await stack.aclose()  # the transport's close is shielded on its own
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
        if self._owner == anyio.get_current_task().id:
            # The body's own exception is not handed to the task group: it would come
            # back wrapped in an ExceptionGroup, and it is the caller's to see as is.
            stack, self._stack = self._stack, None
            if stack is not None:
                await stack.aclose()

    async def aclose(self) -> None:
        """Stop the client now and close every connection (idempotent, from any task).

        Calls waiting for a slot, a token or a backoff raise ``ClientStateError``
        at once, calls on the wire fail with it as their connections close, the
        token refresher and ``map()`` runs stop, and nothing is sent once this
        returns. It can be called from any task and inside any cancel scope; the
        ``async with`` block that entered the client still ends as usual, and the
        client can then be entered again.
        """
        with anyio.CancelScope(shield=True):
            await self._viewed._shut_down()

    async def _shut_down(self) -> None:
        """Close the sender, stop the background tasks, close the transport (once)."""
        self._closed = True
        if self._shutdown is not None:
            await self._shutdown.wait()
            return
        done = self._shutdown = anyio.Event()
        try:
            self._port.close()
            sender = self._sender
            if sender is None:
                return
            sender.close()
            if self._background is not None:
                self._background.stop()
            await sender.close_transport()
        finally:
            done.set()

    def _default_transport(self) -> httpx.AsyncBaseTransport:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = "asyncio"
        # respx and pytest-httpx patch httpx's transport, which ours would go around.
        # One connection more than the limiter allows: a grant never queues behind requests.
        if not httpx_is_intercepted():
            if library == "asyncio":
                from ._aiohttp_transport import AiohttpTransport

                return AiohttpTransport(max_connections=self._max_concurrency + 1)
            from ._h11_transport import H11Transport

            return H11Transport(max_connections=self._max_concurrency + 1)
        limits = httpx.Limits(
            max_connections=self._max_concurrency + 1,
            max_keepalive_connections=self._max_concurrency + 1,
        )
        return httpx.AsyncHTTPTransport(limits=limits, retries=0)

    # -- properties ------------------------------------------------------------

    @property
    def base_url(self) -> httpx.URL:
        """The API root every request goes to (its path ends with ``/``)."""
        return self._base_url

    @property
    def origin(self) -> str:
        """The ``Origin`` sent with every request, as registered with the client ID."""
        return self._origin

    @property
    def token(self) -> Token | None:
        """The current token (its repr hides the secrets), or None before login."""
        auth = self._viewed._auth
        return None if auth is None else auth.current

    def statistics(self) -> ClientStatistics:
        """Counters of requests, retries and grants of the session: the current one, or
        once closed the last one (as it ended), until the client is entered again;
        all 0 before the first (nothing has been done)."""
        client = self._viewed
        sender, auth = client._sender, client._auth
        if sender is None or auth is None:
            return NOTHING_YET
        return snapshot(sender.stats, auth.stats, self._drift.count)

    # -- API -------------------------------------------------------------------

    async def full_version(self) -> str:
        """The portal's full version string (``GET fullVersion``)."""
        return await self._root._read_string(routes.FULL_VERSION)

    def bunit(self, bunit_id: int | str) -> BusinessUnitRef:
        """A proxy for business unit ``bunit_id``; no I/O until a method is awaited."""
        return BusinessUnitRef(self._port, bunit_id)

    def timezone(self, timezone_id: int | str) -> TimeZoneRef:
        """A proxy for a time zone; ``await`` it (or ``.get()``) for the model."""
        return TimeZoneRef(self._port, timezone_id)

    # The specific models come first; a type checker takes the first that matches.
    @overload
    def ref(self, target: models.Consumer) -> ConsumerRef: ...  # type: ignore[overload-overlap]
    @overload
    def ref(  # type: ignore[overload-overlap]
        self, target: models.BusinessUnit | models.SimpleBusinessUnit
    ) -> BusinessUnitRef: ...
    @overload
    def ref(self, target: models.Node) -> NodeRef: ...  # type: ignore[overload-overlap]
    @overload
    def ref(self, target: models.TimeZone) -> TimeZoneRef: ...  # type: ignore[overload-overlap]
    @overload
    def ref(self, target: models.Collection[M]) -> CollectionRef[M]: ...  # type: ignore[overload-overlap]
    @overload
    def ref(self, target: AnyModel) -> ResourceRef[AnyModel]: ...
    @overload
    def ref(self, target: str | httpx.URL) -> Ref: ...

    def ref(self, target: str | httpx.URL | models.Model) -> Ref:
        """Follow a link: an href, a model, an embedded object or embedded collection.

        A ``Consumer`` gives a ``ConsumerRef``, a ``BusinessUnit`` or
        ``SimpleBusinessUnit`` a ``BusinessUnitRef``, a ``Node`` a ``NodeRef``, a
        ``TimeZone`` a ``TimeZoneRef`` and an embedded ``Collection`` a
        ``CollectionRef``, any other model (a ``User``, say) a ``ResourceRef`` of
        its class; a bare href gives the proxy its route calls for, typed as the
        base ``Ref`` (narrow it with ``isinstance``). An href outside
        ``base_url``, or a model whose href is not of its kind, raises
        ``ValidationError`` before any I/O.
        """
        from ._models import Model, SimpleBusinessUnit  # loaded with the first answer

        if isinstance(target, SimpleBusinessUnit):
            if target.id is None:
                raise ValidationError("this business unit has no id to follow")
            return BusinessUnitRef(self._port, target.id)
        if not isinstance(target, Model):
            if not isinstance(target, (str, httpx.URL)):
                raise ValidationError(f"cannot follow {target!r}")
            return ref_for_url(self._port, target)
        href = getattr(target, "href", None)
        if not href:
            raise ValidationError(f"{type(target).__name__} has no href to follow")
        ref = ref_for_url(self._port, href)
        expected = proxy_class(target)
        if not (
            isinstance(ref, expected)
            if expected is not None
            else isinstance(ref, ResourceRef) and isinstance(target, ref.model)
        ):
            kind = type(target).__name__
            raise ValidationError(f"the href of this {kind} is not a {kind}'s: {ref.href}")
        return ref

    async def me(self) -> models.User:
        """The current user, with its ``business_unit`` (the caller's own)."""
        return await self._root._read(routes.ME)

    async def bunit_tree(self, root: int | str | None = None) -> models.SimpleBusinessUnit:
        """The business-unit tree of the caller (or rooted at ``root``), in one request."""
        params = None if root is None else {"bunitId": check_id(root, "root")}
        return await self._root._read(routes.BUNIT_TREE, params=params)

    async def search_bunits(self, term: str) -> list[models.BusinessUnit]:
        """Business units whose name matches ``term``."""
        term = check_name(term, "search term")
        return await self._root._list(routes.SEARCH_BUNITS, params={"searchTerm": term})

    async def timezones(self) -> list[models.TimeZone]:
        """Every time zone the portal knows (for ``create_child(time_zone=...)``)."""
        return await self._root._list(routes.TIMEZONES)

    async def node_operating_systems(self) -> list[models.NodeOperatingSystem]:
        """The operating systems a node can be created with (``NodeRef.create``)."""
        return await self._root._list(routes.OPERATING_SYSTEMS)

    async def node_types(self) -> list[models.NodeType]:
        """The node types a node can be created with (``NodeRef.create``)."""
        return await self._root._list(routes.NODE_TYPES)

    async def node_warning_types(self) -> list[models.NodeWarningType]:
        """What the warnings of a report (``reports(warnings=True)``) mean."""
        return await self._root._list(routes.WARNING_TYPES)

    async def invoke(self, /, action: models.APIEndpoint, **params: Any) -> Any:
        """Invoke a hypermedia action (e.g. a TimeZone's "Calculate UTC offset")."""
        method, url = action_request(action, params)
        url = self._port.base.under(url)
        if method == "GET":
            data, _ = await self._port.get_json(url)
            return data
        response = await self._port.write(method, url, retry_safe=repeatable(method))
        return self._port.decode(response)

    def map(
        self,
        fn: Callable[[T], Awaitable[R]],
        items: Iterable[T] | AsyncIterable[T],
        *,
        concurrency: int | None = None,
    ) -> MapStream[T, R]:
        """Run ``fn`` over ``items`` concurrently; yield ``MapResult``s as they complete.

        A failing item does not stop the others: its result carries the error.
        At most ``concurrency`` (default ``max_concurrency``) calls run at once,
        and every request still goes through the client's shared limiter.
        """
        limit = check_concurrency(concurrency, self._max_concurrency)
        self._port.sender()  # raises outside ``async with``
        background = self._viewed._background
        assert background is not None
        return MapStream(background.start, fn, items, limit)

    @overload
    def walk_consumers(
        self,
        root: int | str | models.SimpleBusinessUnit | None = None,
        *,
        concurrency: int | None = None,
        unit_errors: Literal["raise"] = "raise",
    ) -> AsyncGenerator[ConsumerEntry, None]: ...

    @overload
    def walk_consumers(
        self,
        root: int | str | models.SimpleBusinessUnit | None = None,
        *,
        concurrency: int | None = None,
        unit_errors: Literal["yield"],
    ) -> AsyncGenerator[ConsumerEntry | UnitError, None]: ...

    def walk_consumers(
        self,
        root: int | str | models.SimpleBusinessUnit | None = None,
        *,
        concurrency: int | None = None,
        unit_errors: UnitErrors = "raise",
    ) -> AsyncGenerator[ConsumerEntry, None] | AsyncGenerator[ConsumerEntry | UnitError, None]:
        """Every consumer in the tree, as ``ConsumerEntry(bunit, consumer, ref)``.

        One request for the tree (or none: ``root`` may be a tree from
        ``bunit_tree()``), then each unit's list concurrently. A unit that
        fails never stops the others: with ``unit_errors="yield"`` it comes
        out as a ``UnitError(bunit, error)``; by default (``"raise"``) every
        other unit is walked first, then the first unit's error is raised.
        The arguments are checked at once, before any request.
        """
        from ._models import SimpleBusinessUnit

        if root is not None and not isinstance(root, SimpleBusinessUnit):
            root = check_id(root, "root")
        mode = check_unit_errors(unit_errors)
        check_concurrency(concurrency, self._max_concurrency)
        return walk(self, root, concurrency, mode)
