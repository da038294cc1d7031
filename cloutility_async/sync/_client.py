"""The blocking client: the async ``Cloutility`` run in an event loop of its own thread."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Literal, TypeVar, overload

import anyio
import anyio.to_thread
import httpx

from .._client import ClientStatistics
from .._client import Cloutility as AsyncCloutility
from .._concurrency import Err, Ok, check_concurrency
from .._models import (
    BusinessUnit,
    Collection,
    Consumer,
    Model,
    Node,
    SimpleBusinessUnit,
    TimeZone,
)
from .._options import ClientOptions, SessionOptions, Unpack
from .._retry import RetryPolicy
from .._token import Token
from .._walk import ConsumerEntry as AsyncConsumerEntry
from .._walk import UnitError
from ._portal import Backend, BlockingIterator, HasRunner, Runner, blocking, pulled, same
from ._proxies import (
    BusinessUnitRef,
    CollectionRef,
    ConsumerEntry,
    ConsumerRef,
    NodeRef,
    Ref,
    ResourceRef,
    TimeZoneRef,
    wrap_ref,
)

__all__ = ["Cloutility"]

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M")
AnyModel = TypeVar("AnyModel", bound=Model)


class Cloutility(HasRunner):
    """The Cloutility client for synchronous code: cron jobs, notebooks, plain scripts.

    The same constructor and methods as ``cloutility_async.Cloutility``, called
    without ``await``: ``with Cloutility.from_env() as api: api.me()``. It is
    not a second implementation: it runs the async client in one event loop in
    a background thread (anyio's blocking portal), so retries, token refresh,
    concurrency and errors are the async client's, and an error comes back as
    the same exception. Proxies, ``walk_consumers()`` and ``map()`` results are
    plain iterators.

    Entering (or ``open()``) starts the thread and logs in; leaving (or
    ``close()``) closes every connection and stops the thread, and the client
    can be opened again. ``backend`` picks the loop (``"asyncio"`` or ``"trio"``); every other
    argument is the async client's (see its documentation).
    """

    __slots__ = ()
    _async: AsyncCloutility

    def __init__(
        self,
        *,
        client_id: str,
        origin: str,
        username: str,
        password: str,
        backend: Backend = "asyncio",
        **options: Unpack[SessionOptions],
    ) -> None:
        client = AsyncCloutility(
            client_id=client_id, origin=origin, username=username, password=password, **options
        )
        super().__init__(Runner(backend), client)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        backend: Backend = "asyncio",
        **options: Unpack[ClientOptions],
    ) -> Cloutility:
        """Build a client from ``CLOUTILITY_*`` variables, as the async ``from_env`` does."""
        client = AsyncCloutility.from_env(environ, **options)
        instance = cls.__new__(cls)
        HasRunner.__init__(instance, Runner(backend), client)
        return instance

    def __repr__(self) -> str:
        return f"<sync.{repr(self._async)[1:]}"

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> Cloutility:
        """A light view with other timeouts or retries, as the async ``with_options``:
        it shares this client's session and thread, and is not opened itself."""
        view = type(self).__new__(type(self))
        options = self._async.with_options(timeout=timeout, max_retries=max_retries, retry=retry)
        HasRunner.__init__(view, self._runner, options)
        return view

    # -- lifecycle -------------------------------------------------------------

    def open(self) -> Cloutility:
        """Start the event loop's thread and log in; ``close()`` undoes it.

        For a notebook, where a ``with`` block cannot span cells:
        ``api = Cloutility.from_env().open()``.
        """
        self._runner.open(self._async)
        return self

    def close(self) -> None:
        """Close every connection and stop the thread (idempotent)."""
        self._runner.close()

    def __enter__(self) -> Cloutility:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- properties ------------------------------------------------------------

    @property
    def base_url(self) -> httpx.URL:
        """The API root every request goes to."""
        return self._async.base_url

    @property
    def origin(self) -> str:
        """The ``Origin`` sent with every request."""
        return self._async.origin

    @property
    def token(self) -> Token | None:
        """The current token (its repr hides the secrets), or None before login."""
        return self._async.token

    @property
    def backend(self) -> Backend:
        """The event loop the client runs in its thread."""
        return self._runner.backend

    def statistics(self) -> ClientStatistics:
        """Counters of requests, retries and grants (read in the loop's thread).

        Closed, it is the last session's snapshot, as the async client's is.
        """
        if not self._runner.is_open:
            return self._async.statistics()
        return self._runner.call_sync(self._async.statistics)

    # -- API -------------------------------------------------------------------

    full_version = blocking(AsyncCloutility.full_version)
    me = blocking(AsyncCloutility.me)
    bunit_tree = blocking(AsyncCloutility.bunit_tree)
    search_bunits = blocking(AsyncCloutility.search_bunits)
    timezones = blocking(AsyncCloutility.timezones)
    node_operating_systems = blocking(AsyncCloutility.node_operating_systems)
    node_types = blocking(AsyncCloutility.node_types)
    node_warning_types = blocking(AsyncCloutility.node_warning_types)
    invoke = blocking(AsyncCloutility.invoke)

    def bunit(self, bunit_id: int | str) -> BusinessUnitRef:
        """A proxy for business unit ``bunit_id``; no I/O until a method is called."""
        return BusinessUnitRef(self._runner, self._async.bunit(bunit_id))

    def timezone(self, timezone_id: int | str) -> TimeZoneRef:
        """A proxy for a time zone; ``.get()`` for the model."""
        return TimeZoneRef(self._runner, self._async.timezone(timezone_id))

    @overload
    def ref(self, target: Consumer) -> ConsumerRef: ...  # type: ignore[overload-overlap]
    @overload
    def ref(  # type: ignore[overload-overlap]
        self, target: BusinessUnit | SimpleBusinessUnit
    ) -> BusinessUnitRef: ...
    @overload
    def ref(self, target: Node) -> NodeRef: ...  # type: ignore[overload-overlap]
    @overload
    def ref(self, target: TimeZone) -> TimeZoneRef: ...  # type: ignore[overload-overlap]
    @overload
    def ref(self, target: Collection[M]) -> CollectionRef[M]: ...  # type: ignore[overload-overlap]
    @overload
    def ref(self, target: AnyModel) -> ResourceRef[AnyModel]: ...
    @overload
    def ref(self, target: str | httpx.URL) -> Ref: ...

    def ref(self, target: str | httpx.URL | Model) -> Ref:
        """Follow a link, as the async ``ref()`` does: the blocking proxy of the same name."""
        return wrap_ref(self._runner, self._async.ref(target))

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        concurrency: int | None = None,
    ) -> BlockingIterator[Ok[T, R] | Err[T, R]]:
        """Run the plain function ``fn`` over ``items`` in worker threads, results as they come.

        As the async ``map()``: at most ``concurrency`` (default
        ``max_concurrency``) calls at once, each item's error kept in its
        ``Err``. ``fn`` may call this client (``entry.ref.node.get()``): each
        call runs in its own worker thread. ``items`` may be this client's
        ``walk_consumers()``, a list, or any iterable (read in a worker thread).
        Leave early with ``close()`` or ``with``: the remaining work is cancelled.
        """
        limit = check_concurrency(concurrency, self._async._max_concurrency)
        source = pulled(items)

        def start() -> BlockingIterator[Ok[T, R] | Err[T, R]]:
            threads = anyio.CapacityLimiter(limit)

            async def run(item: T) -> R:
                return await anyio.to_thread.run_sync(fn, item, limiter=threads)

            stream = self._async.map(run, source, concurrency=limit)
            return BlockingIterator(self._runner, stream, same)

        return self._runner.call_sync(start)

    @overload
    def walk_consumers(
        self,
        root: int | str | SimpleBusinessUnit | None = None,
        *,
        concurrency: int | None = None,
        unit_errors: Literal["raise"] = "raise",
    ) -> BlockingIterator[ConsumerEntry]: ...

    @overload
    def walk_consumers(
        self,
        root: int | str | SimpleBusinessUnit | None = None,
        *,
        concurrency: int | None = None,
        unit_errors: Literal["yield"],
    ) -> BlockingIterator[ConsumerEntry | UnitError]: ...

    def walk_consumers(
        self,
        root: int | str | SimpleBusinessUnit | None = None,
        *,
        concurrency: int | None = None,
        unit_errors: Literal["raise", "yield"] = "raise",
    ) -> BlockingIterator[ConsumerEntry] | BlockingIterator[ConsumerEntry | UnitError]:
        """Every consumer in the tree, as the async ``walk_consumers()``, as a plain iterator.

        Its ``ConsumerEntry`` items have a blocking ``ref``; with
        ``unit_errors="yield"`` a unit that failed comes out as a ``UnitError``.
        """
        walk = self._async.walk_consumers(root, concurrency=concurrency, unit_errors=unit_errors)
        runner = self._runner

        def convert(item: AsyncConsumerEntry | UnitError) -> ConsumerEntry | UnitError:
            return ConsumerEntry.of(runner, item) if isinstance(item, AsyncConsumerEntry) else item

        return BlockingIterator(runner, walk, convert)
