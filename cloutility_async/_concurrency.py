"""The client's concurrency limit, and a bounded concurrent map that streams results.

The limit is a FIFO of slots: on asyncio a small one built on futures, on trio the
same with anyio events for its waiters; either costs a fraction of anyio's
``CapacityLimiter`` per request (no borrower bookkeeping, no task lookup on every
acquire and release).

The map's workers run in a task group inside the client's own task group, never in
the caller's frame: a caller that stops iterating early (``break``) or is
cancelled cannot strand a cancel scope across a ``yield``. Items are pulled
lazily and results flow through a small buffer, so memory stays flat however
many items there are. A worker runs item after item (a task, cancel scope and
wake-up per item cost more than a small request's own scheduling), and more are
started only while all of them are busy.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import operator
import types
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, Protocol, TypeVar

import anyio
import anyio.lowlevel
import attrs
import sniffio

from ._crew import Crew, crew
from ._exceptions import ClientStateError, ValidationError

if TYPE_CHECKING:
    import asyncio  # noqa: F401 - in FutureLimiter's base class, a string

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["Err", "Limiter", "MapResult", "MapStream", "Ok", "check_concurrency", "limiter_for"]

T = TypeVar("T")
R = TypeVar("R")


class Limiter(Protocol):
    """What the sender needs of a limiter: a slot now, a slot when free, a slot back.

    ``acquire_nowait`` raises ``anyio.WouldBlock`` when no slot is free or others
    wait ahead (first come, first served); ``acquire`` waits in line. A call
    cancelled while it waits takes no slot, and gives back one handed to it meanwhile.
    """

    def acquire_nowait(self) -> None: ...

    async def acquire(self) -> None: ...

    def release(self) -> None: ...


W = TypeVar("W")


class _Slots(Generic[W]):
    """A count of free slots and the line of waiters (``W``) for the taken ones."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, total: int) -> None:
        self._free = total
        self._waiters: deque[W] = deque()

    def acquire_nowait(self) -> None:
        if self._free:  # never while others wait (see release)
            self._free -= 1
            return
        raise anyio.WouldBlock


class FutureLimiter(_Slots["asyncio.Future[None]"]):
    """``total`` slots on asyncio: a counter, and a queue of futures for the waiters.

    A released slot goes straight to the first waiter (its future is resolved), so
    a newcomer can never take it in between: while anyone waits, no slot is free.
    Asyncio only: the futures belong to the running loop.
    """

    __slots__ = ()

    async def acquire(self) -> None:
        if self._free:
            self._free -= 1
            return
        import asyncio  # a waiter's only: trio, and import cloutility_async, never load it

        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, then cancelled before it could run
            elif waiter in self._waiters:  # release() may have skipped it already
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class _Waiter:
    """One task in line for a slot: its wake-up, and whether a slot was handed to it."""

    __slots__ = ("event", "handed")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.handed = False


class EventLimiter(_Slots[_Waiter]):
    """``total`` slots on any backend (trio's): a counter, and a queue of events.

    The same hand-over as ``FutureLimiter``: a released slot goes straight to the
    first waiter, so a newcomer never takes it in between, and a waiter cancelled
    after it was handed one gives it on. anyio's ``CapacityLimiter`` also records
    which task holds each slot (trio's borrower set, on every acquire and release),
    which the client has no use for.
    """

    __slots__ = ()

    async def acquire(self) -> None:
        if self._free:
            self._free -= 1
            return
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.handed:
                self.release()  # handed a slot, then cancelled before it could run
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.handed = True
            waiter.event.set()
            return
        self._free += 1


def limiter_for(total: int) -> Limiter:
    """A limiter of ``total`` slots for the running event loop."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = "asyncio"
    if library == "asyncio":
        return FutureLimiter(total)
    return EventLimiter(total)


class MapResult(Generic[T, R]):
    """One item's outcome of ``map()``: an ``Ok`` with its ``value`` or an ``Err``.

    ``if result.ok:`` (or ``isinstance(result, Ok)``) narrows a result to
    ``Ok``, whose ``value`` is the function's return type, and ``else`` to
    ``Err``, whose ``error`` is the item's exception: a type checker needs no
    ``assert`` or ``cast``. ``unwrap()`` gives the value or raises the error.
    """

    __slots__ = ()

    item: T

    @property
    def ok(self) -> bool:
        """True for an ``Ok``, False for an ``Err``."""
        raise NotImplementedError

    @property
    def value(self) -> R | None:
        """What the function returned (``None`` for an ``Err``)."""
        raise NotImplementedError

    @property
    def error(self) -> Exception | None:
        """The exception the function raised (``None`` for an ``Ok``)."""
        raise NotImplementedError

    def unwrap(self) -> R:
        """The value, or raise the item's error."""
        raise NotImplementedError


@attrs.frozen
class Ok(MapResult[T, R]):
    """An item whose function returned: ``value`` is what it returned."""

    item: T
    value: R

    @property
    def ok(self) -> Literal[True]:
        """Always True: this item succeeded."""
        return True

    @property
    def error(self) -> None:
        """Always None: this item succeeded."""
        return None

    def unwrap(self) -> R:
        """The value."""
        return self.value


@attrs.frozen
class Err(MapResult[T, R]):
    """An item whose function raised: ``error`` is the exception."""

    item: T
    error: Exception

    @property
    def ok(self) -> Literal[False]:
        """Always False: this item failed."""
        return False

    @property
    def value(self) -> None:
        """Always None: this item failed."""
        return None

    def unwrap(self) -> NoReturn:
        """Raise the item's error."""
        raise self.error


@attrs.frozen
class _Failure:
    error: BaseException


_DONE = object()  # sent once every item has been yielded
_PULL = object()  # a worker's first item: the next of the plain iterable
_STOP = object()  # the plain iterable has no more items


class MapStream(AsyncIterator[Ok[T, R] | Err[T, R]]):
    """The results of ``Cloutility.map``, in completion order.

    Iterate it with ``async for``. Leaving the loop early is safe: the
    remaining work is cancelled when the stream is closed (``aclose()``, or
    ``async with``), or at the latest when it is garbage collected.
    """

    def __init__(
        self,
        start: Callable[[Callable[[], Awaitable[object]]], object],
        fn: Callable[[T], Awaitable[R]],
        items: Iterable[T] | AsyncIterable[T],
        concurrency: int,
    ) -> None:
        send, self._receive = anyio.create_memory_object_stream[Any](max(1, concurrency))
        self._scope = anyio.CancelScope()
        self._check_cancelled = _cancellation_check()
        # `start` runs the work as a task of the client (which can stop it on close).
        start(partial(_run, self._scope, fn, items, concurrency, send))

    def __aiter__(self) -> MapStream[T, R]:
        return self

    async def __anext__(self) -> Ok[T, R] | Err[T, R]:
        try:
            # Take what is ready without a trip through the event loop: one result
            # per loop pass would leave workers blocked on a full buffer.
            await self._check_cancelled()
            try:
                outcome = self._receive.receive_nowait()
            except anyio.WouldBlock:
                outcome = await self._receive.receive()
        except anyio.ClosedResourceError:
            raise StopAsyncIteration from None  # closed by the caller
        except anyio.EndOfStream:
            # The workers stopped without finishing: the run was cancelled (the
            # client closed, or Ctrl-C). Never let that pass for a complete run.
            self.close()
            await anyio.lowlevel.checkpoint()
            raise ClientStateError("the map stopped before every item was done") from None
        if outcome is _DONE:
            self.close()
            raise StopAsyncIteration
        if isinstance(outcome, _Failure):
            self.close()
            raise outcome.error
        result: Ok[T, R] | Err[T, R] = outcome
        return result

    def close(self) -> None:
        """Stop the remaining work now (safe to call more than once)."""
        self._scope.cancel()
        self._receive.close()

    async def aclose(self) -> None:
        """Stop the remaining work now (``close()``, for ``async with`` and ``aclosing``)."""
        self.close()

    async def __aenter__(self) -> MapStream[T, R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # An abandoned stream must not keep its workers waiting forever. The
        # event loop may be gone already, and then there is nothing to stop.
        with contextlib.suppress(Exception):
            self.close()


class _Pool(Generic[T, R]):
    """Up to ``limit`` workers running ``fn``, item after item, results to ``send``.

    Workers start as many at once as a plain iterable says it has items (a list's
    length), and double whenever every one is busy, so a map of few items (or of
    quick ones) runs few tasks; each then takes item after item, with no task,
    cancel scope or wake-up per item. A worker holds its item until the
    result is handed over: no more than ``limit`` items run or wait ahead of a
    slow consumer. An async iterable is read by one task (``feed``), which hands
    each item to a worker: an async generator may hold a cancel scope of its
    task across its ``yield``.
    """

    __slots__ = (
        "_fn",
        "_limit",
        "_map_scope",
        "_send",
        "_work",
        "busy",
        "exhausted",
        "failure",
        "tasks",
        "workers",
    )

    def __init__(
        self,
        fn: Callable[[T], Awaitable[R]],
        send: MemoryObjectSendStream[Any],
        limit: int,
        map_scope: anyio.CancelScope,
        tasks: Crew,
    ) -> None:
        self._fn = fn
        self._send = send
        self._limit = limit
        self._map_scope = map_scope
        self.tasks = tasks
        self.workers = 0
        self.busy = 0  # workers running fn now
        self.failure: Exception | None = None  # the item source's error
        self.exhausted = False  # the plain iterable has no more items (or failed)
        self._work = self.work  # one bound method for every worker

    def fail(self, error: Exception) -> None:
        """The item source failed: stop the workers; the error ends the stream."""
        self.failure = error
        self.exhausted = True
        self.tasks.cancel()

    def spawn_pullers(self, items: Iterator[T], count: int) -> None:
        """Start ``count`` more workers on ``items``, never more than the limit in all."""
        for _ in range(min(count, self._limit - self.workers)):
            self.workers += 1
            self.tasks.start_soon(self._work, _PULL, items, None)

    def _pull(self, items: Iterator[T]) -> Any:
        """The next item of a plain iterable, or ``_STOP``."""
        if self.exhausted:
            return _STOP
        try:
            item = next(items)
        except StopIteration:
            self.exhausted = True
            return _STOP
        except Exception as exc:
            self.fail(exc)
            return _STOP
        if self.busy + 1 == self.workers < self._limit:  # nobody left to pull: double up
            self.spawn_pullers(items, self.workers)
        return item

    async def work(
        self,
        scope: AbstractContextManager[object],
        item: Any,
        items: Iterator[T] | None,
        handed: MemoryObjectReceiveStream[T] | None,
    ) -> None:
        """A worker: ``item``, then item after item (pulled from ``items``, or ``handed``).

        One coroutine for the whole run of items, in the ``scope`` its crew gave
        it: a request in flight holds no frame of the map's but this one.
        """
        fn, send = self._fn, self._send
        start = contextvars.copy_context()  # the worker's start: each item gets a copy
        with scope:
            try:
                while True:
                    if items is not None:
                        item = self._pull(items)
                        if item is _STOP:
                            return
                    self.busy += 1
                    try:
                        awaitable = fn(item)
                        if type(awaitable) is types.CoroutineType:
                            value = await _InContext(start.copy(), awaitable)
                        else:  # a future or another awaitable, awaited as it always was
                            value = await awaitable
                        result: Ok[T, R] | Err[T, R] = Ok(item, value)
                    except Exception as exc:
                        result = Err(item, exc)
                    finally:
                        self.busy -= 1
                    try:
                        send.send_nowait(result)
                    except anyio.WouldBlock:
                        await send.send(result)  # a slow consumer: wait, holding the item
                    if handed is not None:
                        try:
                            item = handed.receive_nowait()
                        except anyio.WouldBlock:
                            item = await handed.receive()
            except anyio.EndOfStream:
                return  # the async iterable has no more items
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._map_scope.cancel()  # nobody listens any more
            finally:
                if handed is not None:
                    handed.close()

    async def feed(self, items: AsyncIterable[T]) -> None:
        """Hand each item of ``items`` to an idle worker, or to a new one while allowed."""
        send, handed = anyio.create_memory_object_stream[T](0)
        with send, handed:
            try:
                async for item in items:
                    try:
                        send.send_nowait(item)  # to a worker waiting for one
                    except anyio.WouldBlock:
                        if self.workers < self._limit:
                            self.workers += 1
                            self.tasks.start_soon(self._work, item, None, handed.clone())
                        else:
                            await send.send(item)
            except Exception as exc:
                self.fail(exc)
            finally:
                if inspect.isasyncgen(items):
                    with anyio.CancelScope(shield=True):
                        await items.aclose()


async def _run(
    scope: anyio.CancelScope,
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    concurrency: int,
    send: MemoryObjectSendStream[Any],
) -> None:
    with scope:
        async with send:
            async with crew() as tasks:
                pool = _Pool(fn, send, concurrency, scope, tasks)
                if isinstance(items, AsyncIterable):
                    await pool.feed(items)
                else:
                    try:
                        source = iter(items)
                    except Exception as exc:
                        pool.fail(exc)
                    else:
                        # As many as it has items (a list's length) at once, else one.
                        pool.spawn_pullers(source, _length_hint(source))
            outcome = _DONE if pool.failure is None else _Failure(pool.failure)
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await send.send(outcome)


class _InContext:
    """Awaits ``coroutine`` with each of its steps run in ``context``.

    A worker runs item after item in one task; this gives each item's function
    the context a task of its own would have had (a copy of the map's), so that
    what one item sets in a ``ContextVar`` is not seen by the next. An iterator
    that passes each step on, not a generator: no frame per item in flight.
    """

    __slots__ = ("_context", "_coroutine")

    def __init__(self, context: contextvars.Context, coroutine: Coroutine[Any, Any, Any]) -> None:
        self._context = context
        self._coroutine = coroutine

    def __await__(self) -> _InContext:
        return self

    def __iter__(self) -> _InContext:
        return self

    def __next__(self) -> Any:
        return self._context.run(self._coroutine.send, None)

    def send(self, value: Any) -> Any:
        return self._context.run(self._coroutine.send, value)

    def throw(self, *error: Any) -> Any:
        return self._context.run(self._coroutine.throw, *error)

    def close(self) -> None:
        self._context.run(self._coroutine.close)


def _cancellation_check() -> Callable[[], Awaitable[None]]:
    """``checkpoint_if_cancelled`` of the running loop's anyio backend, looked up once.

    ``anyio.lowlevel.checkpoint_if_cancelled`` asks sniffio for the backend on
    every call; a stream checks once per result.
    """
    try:
        from anyio._core._eventloop import get_async_backend
    except ImportError:  # pragma: no cover - an anyio that moved it
        return anyio.lowlevel.checkpoint_if_cancelled
    check: Callable[[], Awaitable[None]] = get_async_backend().checkpoint_if_cancelled
    return check


def _length_hint(items: Iterator[Any]) -> int:
    """How many items ``items`` says it has left (a list's iterator knows), at least 1."""
    try:
        return max(1, operator.length_hint(items))
    except Exception:  # a broken __length_hint__ is no reason to fail the map
        return 1


def check_concurrency(value: Any, default: int) -> int:
    """``value`` if it is a positive int, ``default`` if None; else ValidationError."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"concurrency must be a positive int, got {value!r}")
    return value
