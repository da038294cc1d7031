"""The client's concurrency limit, and a bounded concurrent map that streams results.

The limit is a FIFO of slots: anyio's ``CapacityLimiter`` on trio, and on asyncio
a small one built on futures, which costs a fraction of anyio's per request (no
borrower bookkeeping, no task lookup on every acquire and release).

The map's workers run in a task group inside the client's own task group, never in
the caller's frame: a caller that stops iterating early (``break``) or is
cancelled cannot strand a cancel scope across a ``yield``. Items are pulled
lazily and results flow through a small buffer, so memory stays flat however
many items there are.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, Protocol, TypeVar

import anyio
import anyio.lowlevel
import attrs
import sniffio

from ._exceptions import ClientStateError, ValidationError

if TYPE_CHECKING:
    import asyncio

    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectSendStream

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


class FutureLimiter:
    """``total`` slots on asyncio: a counter, and a queue of futures for the waiters.

    A released slot goes straight to the first waiter (its future is resolved), so
    a newcomer can never take it in between: while anyone waits, no slot is free.
    Asyncio only: the futures belong to the running loop.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, total: int) -> None:
        self._free = total
        self._waiters: deque[asyncio.Future[None]] = deque()

    def acquire_nowait(self) -> None:
        if self._free:  # never while others wait (see release)
            self._free -= 1
            return
        raise anyio.WouldBlock

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


def limiter_for(total: int) -> Limiter:
    """A limiter of ``total`` slots for the running event loop."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = "asyncio"
    if library == "asyncio":
        return FutureLimiter(total)
    return anyio.CapacityLimiter(total)


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
        # `start` runs the work as a task of the client (which can stop it on close).
        start(partial(_run, self._scope, fn, items, concurrency, send))

    def __aiter__(self) -> MapStream[T, R]:
        return self

    async def __anext__(self) -> Ok[T, R] | Err[T, R]:
        try:
            # Take what is ready without a trip through the event loop: one result
            # per loop pass would leave workers blocked on a full buffer.
            await anyio.lowlevel.checkpoint_if_cancelled()
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


async def _run(
    scope: anyio.CancelScope,
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    concurrency: int,
    send: MemoryObjectSendStream[Any],
) -> None:
    slots = anyio.Semaphore(concurrency)

    async def work(item: T) -> None:
        # The slot is held until the result is handed over, so no more than
        # `concurrency` items run or wait ahead of a slow consumer.
        try:
            try:
                result: Ok[T, R] | Err[T, R] = Ok(item, await fn(item))
            except Exception as exc:
                result = Err(item, exc)
            await send.send(result)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            scope.cancel()  # nobody listens any more
        finally:
            slots.release()

    async def start(workers: TaskGroup, item: T) -> None:
        try:
            slots.acquire_nowait()
        except anyio.WouldBlock:
            await slots.acquire()
        workers.start_soon(work, item)

    with scope:
        async with send:
            try:
                async with anyio.create_task_group() as workers:
                    if isinstance(items, AsyncIterable):
                        try:
                            async for item in items:
                                await start(workers, item)
                        finally:
                            if inspect.isasyncgen(items):
                                with anyio.CancelScope(shield=True):
                                    await items.aclose()
                    else:
                        for item in items:
                            await start(workers, item)
                await send.send(_DONE)
            except Exception as exc:  # the item source failed
                error: BaseException = exc
                inner = getattr(exc, "exceptions", None)  # an ExceptionGroup of one
                if isinstance(inner, tuple) and len(inner) == 1:
                    error = inner[0]
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await send.send(_Failure(error))


def check_concurrency(value: Any, default: int) -> int:
    """``value`` if it is a positive int, ``default`` if None; else ValidationError."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"concurrency must be a positive int, got {value!r}")
    return value
