"""Where ``map()``'s workers run: anyio's task group, or on asyncio bare tasks.

anyio's task group keeps, for each task, a handle with an event, a cancel scope
of its own and a wrapper coroutine: about 3.7 KB a task on asyncio, against
about 2 KB for a bare asyncio task in one cancel scope. A map with 1,000 items
in flight runs 1,000 workers, so on asyncio they are such bare tasks. Each runs
in a cancel scope of its own, so that stopping them is anyio's cancellation
(shields inside a worker hold), and the crew stops them all when the task that
waits for them is cancelled, as a task group would. A worker's scope is also
the top of its task's scope chain, which makes every anyio cancellation check
in a request (a walk up that chain) short.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import sniffio

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found, unused-ignore]

if TYPE_CHECKING:
    import asyncio

    from anyio.abc import TaskGroup

_IN_GROUP = contextlib.nullcontext()  # a task group's tasks need no scope of their own

__all__ = ["Crew", "crew"]


#: A worker: ``fn(scope, *args)``, which runs its whole body inside ``with scope:``.
Worker = Callable[..., Coroutine[Any, Any, object]]


class Crew(Protocol):
    """Tasks that ``async with`` waits for: start them, or stop them all."""

    def start_soon(self, fn: Worker, *args: Any) -> None:
        """Run ``fn(scope, *args)`` as a task; ``fn`` enters ``scope`` first thing."""

    def cancel(self) -> None: ...

    async def __aenter__(self) -> Crew: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


def crew() -> Crew:
    """A crew for the running event loop (bare tasks on asyncio, a task group elsewhere)."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = ""
    return _TaskCrew() if library == "asyncio" else _GroupCrew(anyio.create_task_group())


class _GroupCrew:
    """anyio's task group, as a ``Crew``."""

    __slots__ = ("_group",)

    def __init__(self, group: TaskGroup) -> None:
        self._group = group

    def start_soon(self, fn: Worker, *args: Any) -> None:
        self._group.start_soon(fn, _IN_GROUP, *args)

    def cancel(self) -> None:
        self._group.cancel_scope.cancel()

    async def __aenter__(self) -> _GroupCrew:
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._group.__aexit__(exc_type, exc, tb)


class _TaskCrew:
    """Bare asyncio tasks, each in a cancel scope of its own; asyncio only.

    The worker enters the scope itself (no wrapper coroutine: one frame less a task).
    """

    __slots__ = ("_done", "_errors", "_loop", "_on_done", "_stopped", "_tasks")

    def __init__(self) -> None:
        import asyncio  # this crew's only: trio, and import cloutility_async, never load it

        self._loop = asyncio.get_running_loop()
        self._tasks: dict[asyncio.Task[object], anyio.CancelScope] = {}
        self._stopped = False
        self._errors: list[BaseException] = []  # what workers let out
        self._done: asyncio.Future[None] | None = None  # set when the last task ends
        self._on_done = self._finished

    def start_soon(self, fn: Worker, *args: Any) -> None:
        """Run ``fn(scope, *args)`` in a task of the crew (stopped at once after ``cancel()``)."""
        scope = anyio.CancelScope()
        if self._stopped:
            scope.cancel()
        task = self._loop.create_task(fn(scope, *args))
        self._tasks[task] = scope
        task.add_done_callback(self._on_done)

    def cancel(self) -> None:
        """Stop every task: anyio's cancellation of each one's scope."""
        self._stopped = True
        for scope in self._tasks.values():
            scope.cancel()

    def _finished(self, task: asyncio.Task[object]) -> None:
        del self._tasks[task]
        if not task.cancelled():
            error = task.exception()
            if error is not None:  # as a task group: the others stop, the errors go up
                self._errors.append(error)
                self.cancel()
        done = self._done
        if not self._tasks and done is not None and not done.done():
            done.set_result(None)

    async def _wait(self) -> None:
        while self._tasks:
            self._done = self._loop.create_future()
            await self._done

    async def __aenter__(self) -> _TaskCrew:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if exc is not None:  # the code inside failed (or was cancelled): stop the workers
            await self._drain()
            return None
        try:
            await self._wait()
        except BaseException:  # the waiting task was cancelled
            await self._drain()
            raise
        if self._errors:
            raise BaseExceptionGroup("unhandled errors in a TaskGroup", self._errors)
        return None

    async def _drain(self) -> None:
        """Stop every task and wait until they have all ended."""
        self.cancel()
        with anyio.CancelScope(shield=True):
            await self._wait()
