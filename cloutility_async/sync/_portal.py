"""How blocking calls reach the async client: one event loop in a thread, a portal to it.

``Runner`` owns the loop (anyio's blocking portal) and the async client's open
session, hosted in one task of that loop so that its task group is entered and
left by the same task. Everything else here turns async callables into
blocking ones through it:

* ``blocking(AsyncClass.method)`` is a descriptor: the sync class's attribute
  calls the async object's method through the portal, with the very parameters
  and return type of the async method (``ParamSpec``), so the two cannot drift;
* ``BlockingIterator`` is a plain iterator over an async iterator;
* ``pulled`` feeds a plain iterable to the loop without blocking it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Concatenate, ForwardRef, Generic, Literal, ParamSpec, TypeVar, overload

import anyio.to_thread
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .._client import Cloutility as AsyncCloutility
from .._exceptions import ClientStateError, ConfigurationError

__all__ = [
    "Backend",
    "BlockingIterator",
    "HasRunner",
    "Runner",
    "blocking",
    "iterating",
    "pulled",
    "same",
]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")

#: The event loop the facade runs in its thread.
Backend = Literal["asyncio", "trio"]


class Runner:
    """The facade's event loop thread and the async client's session in it."""

    def __init__(self, backend: Backend) -> None:
        if backend not in ("asyncio", "trio"):
            raise ConfigurationError(f"backend must be 'asyncio' or 'trio', got {backend!r}")
        self.backend = backend
        self._portal: BlockingPortal | None = None
        self._stack: ExitStack | None = None

    @property
    def is_open(self) -> bool:
        """Whether a session is open (between ``open`` and ``close``)."""
        return self._portal is not None

    def open(self, client: AsyncCloutility) -> None:
        """Start the loop's thread and enter ``client`` in it (login included)."""
        if self._stack is not None:
            raise ClientStateError("this Cloutility client is already open")
        stack = ExitStack()
        try:
            portal = stack.enter_context(start_blocking_portal(self.backend))
            stack.enter_context(portal.wrap_async_context_manager(client))
        except BaseException:
            stack.close()  # a failed login stops the thread too
            raise
        self._portal, self._stack = portal, stack
        _close_at_exit(self)

    def close(self) -> None:
        """Close the client's session, then stop the loop and its thread (idempotent)."""
        stack, self._stack, self._portal = self._stack, None, None
        _OPEN.discard(self)
        if stack is not None:
            stack.close()

    def portal(self) -> BlockingPortal:
        """The portal of the open session; ``ClientStateError`` when there is none."""
        portal = self._portal
        if portal is None:
            raise ClientStateError(
                "the client is not open: use 'with Cloutility(...) as api:' (or api.open())"
            )
        return portal

    def call(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` in the loop and return (or raise) what it does."""
        return self.portal().call(functools.partial(fn, *args, **kwargs))

    def call_sync(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the plain function ``fn`` in the loop's thread (for what must start there)."""
        return self.portal().call(functools.partial(fn, *args, **kwargs))


# The runners open now, closed when the interpreter exits (see _close_at_exit).
_OPEN: set[Runner] = set()


def _close_at_exit(runner: Runner) -> None:
    """Close ``runner`` at exit if its owner never did, so that the script ends.

    Python waits for the loop's thread (not a daemon) before it runs ``atexit``
    handlers, so a script that forgot ``close()`` would hang there. Hooks
    registered with ``threading._register_atexit`` run before that wait, which
    is how ``concurrent.futures`` stops its own workers.
    """
    _register_close_all()
    _OPEN.add(runner)


@functools.cache
def _register_close_all() -> None:
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        with contextlib.suppress(RuntimeError):  # the interpreter is already exiting
            register(_close_all)


def _close_all() -> None:
    for runner in list(_OPEN):
        with contextlib.suppress(Exception):  # the others still get closed
            runner.close()


class HasRunner:
    """A sync object: the async object it stands for and the runner that reaches it."""

    __slots__ = ("_async", "_runner")

    def __init__(self, runner: Runner, wrapped: Any) -> None:
        self._runner = runner
        self._async = wrapped


class _Twin:
    """What both descriptors share: the async method they stand for, and its name."""

    def __init__(self, method: Callable[..., object]) -> None:
        self._name = method.__name__
        self.__doc__ = method.__doc__
        self.__wrapped__ = method
        # ``typing.get_type_hints(SyncClass.name)``: the async method's own annotations,
        # resolved in its module (found through ``__wrapped__``); the awaited return type
        # is the blocking call's.
        self.__annotations__ = self._annotations(method.__annotations__, method.__module__)

    def _annotations(self, hints: dict[str, Any], module: str) -> dict[str, Any]:
        return hints

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def _bound(self, obj: HasRunner) -> Any:
        """The async object's own method of this name (so overrides are honoured)."""
        return getattr(obj._async, self._name)


class blocking(_Twin, Generic[P, R]):
    """``name = blocking(AsyncClass.name)``: that method, called without ``await``.

    A type checker sees the async method's own parameters and its awaited
    return type; at run time the call goes to the wrapped async object's
    bound method through the portal, and its exception comes back as it is.
    """

    def __init__(self, method: Callable[Concatenate[Any, P], Awaitable[R]]) -> None:
        super().__init__(method)

    @overload
    def __get__(self, obj: None, owner: type) -> blocking[P, R]: ...
    @overload
    def __get__(self, obj: HasRunner, owner: type) -> Callable[P, R]: ...

    def __get__(self, obj: HasRunner | None, owner: type) -> blocking[P, R] | Callable[P, R]:
        if obj is None:
            return self
        bound, runner = self._bound(obj), obj._runner

        @functools.wraps(bound)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            result: R = runner.call(bound, *args, **kwargs)
            return result

        return call


class iterating(_Twin, Generic[P, T]):
    """``name = iterating(AsyncClass.name)``: a method that returns an async iterator
    (``audit_log``), returning a plain ``BlockingIterator`` of the same items."""

    def __init__(self, method: Callable[Concatenate[Any, P], AsyncIterator[T]]) -> None:
        super().__init__(method)

    def _annotations(self, hints: dict[str, Any], module: str) -> dict[str, Any]:
        """The async method's, returning a ``BlockingIterator`` of its items: the item type
        of ``AsyncIterator[X]`` (or ``Pages[X]``) as a reference resolved in its module."""
        returned = hints.get("return")
        if not isinstance(returned, str) or not returned.endswith("]") or "[" not in returned:
            return hints
        item = returned[returned.index("[") + 1 : -1]
        return {**hints, "return": BlockingIterator[ForwardRef(item, module=module)]}  # type: ignore[misc]

    @overload
    def __get__(self, obj: None, owner: type) -> iterating[P, T]: ...
    @overload
    def __get__(self, obj: HasRunner, owner: type) -> Callable[P, BlockingIterator[T]]: ...

    def __get__(
        self, obj: HasRunner | None, owner: type
    ) -> iterating[P, T] | Callable[P, BlockingIterator[T]]:
        if obj is None:
            return self
        bound, runner = self._bound(obj), obj._runner

        @functools.wraps(bound)
        def call(*args: P.args, **kwargs: P.kwargs) -> BlockingIterator[T]:
            # Built here, in the caller's thread: the arguments are checked at once.
            return BlockingIterator(runner, bound(*args, **kwargs), same)

        call.__annotations__ = self.__annotations__  # its items, in a plain iterator
        return call


class BlockingIterator(Iterator[T]):
    """A plain iterator over an async one: each ``next()`` is one trip through the portal.

    ``close()`` (or leaving ``with``) stops it early and releases what the async
    iterator holds (a ``map()`` cancels its remaining work).
    """

    def __init__(self, runner: Runner, source: AsyncIterator[S], convert: Callable[[S], T]) -> None:
        self._runner = runner
        self._source = source
        self._convert = convert
        self._finished = False  # exhausted or closed: nothing left to release

    def __iter__(self) -> BlockingIterator[T]:
        return self

    def __next__(self) -> T:
        try:
            item = self._runner.call(_next, self._source)
        except StopAsyncIteration:
            self._finished = True
            raise StopIteration from None
        return self._convert(item)

    def close(self) -> None:
        """Stop iterating: nothing more is fetched or run (safe to call more than once)."""
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None and self._runner.is_open:
            self._runner.call(aclose)
        self._finished = True

    def __del__(self) -> None:
        # Dropped half-way (a `break`, `next(iter(...))`): close the source in the
        # loop, without waiting for it, rather than leave an async generator to the
        # garbage collector (trio warns with a ResourceWarning for each).
        aclose = getattr(self._source, "aclose", None)
        if self._finished or aclose is None or not self._runner.is_open:
            return
        # RuntimeError: the loop's own thread, or it is stopping; ClientStateError: closed.
        with contextlib.suppress(RuntimeError, ClientStateError):
            self._runner.portal().start_task_soon(aclose)

    def __enter__(self) -> BlockingIterator[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def _converted(self) -> AsyncIterator[T]:
        """The same items, converted, as an async iterator (to feed ``map()`` in the loop)."""
        async for item in self._source:
            yield self._convert(item)


async def _next(source: AsyncIterator[S]) -> S:
    return await source.__anext__()


def same(item: T) -> T:
    """The item as it is: for iterators whose items need no sync wrapper."""
    return item


# Containers whose iteration cannot block, so the loop may iterate them itself.
_PLAIN = (list, tuple, range, set, frozenset, dict, str, bytes)


def pulled(items: Iterable[T]) -> Iterable[T] | AsyncIterator[T]:
    """``items`` in a form the loop can iterate without blocking on user code.

    A facade iterator gives its async source; a list or tuple is iterated as
    it is; any other iterable (a generator that may itself call the facade) is
    advanced in a worker thread, one item at a time.
    """
    if isinstance(items, BlockingIterator):
        return items._converted()
    if isinstance(items, _PLAIN):
        return items
    return _in_thread(iter(items))


async def _in_thread(iterator: Iterator[T]) -> AsyncIterator[T]:
    done = object()
    while True:
        item = await anyio.to_thread.run_sync(next, iterator, done)
        if item is done:
            return
        yield item  # type: ignore[misc]  # not `done`, so a T
