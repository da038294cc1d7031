"""The client's own tasks (token refresher, grants, ``map()`` runs), stoppable from any task.

They run in the task group the client entered, each in a cancel scope of its
own, so ``aclose()`` can stop them from whatever task calls it, without
touching the task group itself (only the task that entered it may end it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

__all__ = ["Background"]


class Background:
    """Starts tasks in one session's task group and stops them all on ``stop()``."""

    __slots__ = ("_scopes", "_task_group", "stopped")

    def __init__(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        self._scopes: set[anyio.CancelScope] = set()
        self.stopped = False

    def start(self, call: Callable[[], Awaitable[object]], name: str = "") -> None:
        """Run ``call()`` as a task of the session (a task started after ``stop()`` stops)."""
        self._task_group.start_soon(self._run, call, name=name or None)

    def stop(self) -> None:
        """Cancel every task, now, from any task."""
        self.stopped = True
        for scope in self._scopes:
            scope.cancel()

    async def _run(self, call: Callable[[], Awaitable[object]]) -> None:
        with anyio.CancelScope() as scope:
            if self.stopped:
                scope.cancel()
            self._scopes.add(scope)
            try:
                await call()
            except BaseException as exc:  # a cancellation on its way to the task group
                # The frames below hold a grant's form, the password in it, as locals.
                if exc.__traceback__ is not None:
                    exc.__traceback__.tb_next = None
                raise
            finally:
                self._scopes.discard(scope)
