"""One request in flight per key: concurrent callers share its outcome.

The first caller (the leader) runs the call in its own task, so nothing
runs in the background. Other callers wait for it and get the same result
or the same error. A leader that is cancelled hands over: one waiter becomes
the new leader and calls again, so cancelling one caller never cancels the
others. Outcomes are not kept once the call is done: a failure is never
cached, and ``forget_prefix`` lets a write make later callers start afresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import anyio

from ._exceptions import fresh_copy

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _Flight:
    __slots__ = ("abandoned", "done", "error", "result")

    def __init__(self) -> None:
        self.done: anyio.Event | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False


class SingleFlight:
    """Deduplicates concurrent calls by key."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight] = {}
        self.shared = 0  # calls that joined a flight instead of sending

    def __len__(self) -> int:
        return len(self._flights)

    def forget_prefix(self, prefix: str) -> None:
        """Later callers of every key (a URL) that starts with ``prefix`` start a new call
        (waiters of the old ones keep theirs)."""
        for key in [k for k in self._flights if isinstance(k, str) and k.startswith(prefix)]:
            del self._flights[key]

    def lead(self, key: Hashable) -> _Flight | None:
        """The flight of ``key`` this caller now leads, or None if one is in flight (join
        it with ``do()``). The leader awaits its call in its own frame (no closure, no
        coroutine of ours in the chain of a request in flight) and must ``land()`` the
        flight, whatever its call does."""
        flights = self._flights
        if key in flights:
            return None
        flight = flights[key] = _Flight()
        return flight

    def land(
        self,
        key: Hashable,
        flight: _Flight,
        result: object = None,
        error: BaseException | None = None,
    ) -> None:
        """End ``flight`` (from ``lead()``): its waiters get ``result`` or ``error``; a
        leader cancelled (or interrupted: any ``BaseException``) hands over to one of them."""
        if error is None:
            flight.result = result
        elif not isinstance(error, Exception):
            # Cancelled, or a KeyboardInterrupt or SystemExit of the leader's task: the
            # leader's own end, never its waiters' (each would raise a copy of it).
            flight.abandoned = True
        else:
            flight.error = error
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.done is not None:
            flight.done.set()

    async def do(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        # One coroutine for leader and waiter alike: a request in flight holds one frame here.
        flights = self._flights
        while True:
            flight = flights.get(key)
            if flight is None:
                break
            if flight.done is None:
                flight.done = anyio.Event()
            self.shared += 1
            await flight.done.wait()
            if flight.abandoned:
                continue  # the leader was cancelled: try again, maybe as the leader
            if flight.error is not None:
                # A copy per waiter: one shared object would pile up every waiter's frames.
                raise fresh_copy(flight.error)
            shared: T = flight.result
            return shared
        flight = flights[key] = _Flight()  # this caller leads
        try:
            result = await call()
        except BaseException as exc:
            self.land(key, flight, error=exc)
            raise
        self.land(key, flight, result)
        return result
