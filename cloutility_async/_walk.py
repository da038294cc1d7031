"""Walking every consumer of a business-unit tree, past units that fail.

One request fetches the tree; each unit's consumer list is then fetched
concurrently through ``Cloutility.map``. A unit whose list fails (after the
transport's retries) never stops the walk of the others: with
``unit_errors="yield"`` it comes out as a ``UnitError`` in the stream, and by
default (``"raise"``) the walk finishes every other unit first and then
raises the first unit's error.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from . import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from ._exceptions import DecodeError, ValidationError
from ._resources.consumers import ConsumerRef

if TYPE_CHECKING:
    from ._client import Cloutility

__all__ = [
    "ConsumerEntry",
    "ConsumerFields",
    "UnitError",
    "UnitErrors",
    "check_unit_errors",
    "flatten",
    "walk",
]

#: What ``walk_consumers`` does with a unit that cannot be walked.
UnitErrors = Literal["raise", "yield"]


class _ConsumerIds(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def bunit_id(self) -> int: ...


class ConsumerFields:
    """The consumer's identity on a walked entry (async, and the blocking facade's)."""

    __slots__ = ()
    consumer: models.Consumer
    ref: _ConsumerIds

    @property
    def id(self) -> int:
        """The consumer's id (always known: it is in ``ref``)."""
        return self.ref.id

    @property
    def bunit_id(self) -> int:
        """The id of the consumer's business unit."""
        return self.ref.bunit_id

    @property
    def name(self) -> str | None:
        """The consumer's name, as the list sent it."""
        return self.consumer.name

    @property
    def href(self) -> str | None:
        """The consumer's href, as the list sent it."""
        return self.consumer.href


@attrs.frozen
class ConsumerEntry(ConsumerFields):
    """A consumer found by ``walk_consumers``: its unit, its (thin) model and a proxy.

    ``entry.id``, ``entry.bunit_id``, ``entry.name`` and ``entry.href`` are the
    consumer's own; every other field is on ``entry.consumer`` (a ``Consumer``).
    ``entry.bunit`` is its business unit and ``entry.ref`` the proxy to fetch
    more (``await entry.ref.node.get()``).
    """

    bunit: models.SimpleBusinessUnit
    consumer: models.Consumer
    ref: ConsumerRef

    if not TYPE_CHECKING:  # a type checker sees only the typed properties above

        def __getattr__(self, name: str) -> Any:
            # Only reached for names the entry lacks: the consumer's other fields,
            # which the entry used to pass through untyped.
            if name.startswith("_") or not hasattr(self.consumer, name):
                raise AttributeError(f"'ConsumerEntry' object has no attribute {name!r}")
            warnings.warn(
                f"ConsumerEntry.{name} is deprecated and will be removed:"
                f" read entry.consumer.{name} (typed)",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(self.consumer, name)


@attrs.frozen
class UnitError:
    """A business unit that ``walk_consumers`` could not walk, and why.

    ``error`` is the unit's own error (``PermissionDeniedError``,
    ``ServerError``, ...). ``consumer`` is set when the list was read but one
    of its consumers has neither id nor href to follow (the others are walked).
    """

    bunit: models.SimpleBusinessUnit
    error: Exception
    consumer: models.Consumer | None = None

    @property
    def bunit_id(self) -> int | None:
        """The id of the unit that could not be walked (None if the tree gave none)."""
        return self.bunit.id


def check_unit_errors(value: object) -> UnitErrors:
    if value == "raise":
        return "raise"
    if value == "yield":
        return "yield"
    raise ValidationError(f"unit_errors must be 'raise' or 'yield', got {value!r}")


def flatten(unit: models.SimpleBusinessUnit) -> Iterator[models.SimpleBusinessUnit]:
    """The units of a tree, depth first, parents before children."""
    stack = [unit]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.business_units))


async def walk(
    api: Cloutility,
    root: int | str | models.SimpleBusinessUnit | None,
    concurrency: int | None,
    unit_errors: UnitErrors,
) -> AsyncGenerator[ConsumerEntry | UnitError, None]:
    """Every consumer under ``root`` (an id, a tree already fetched, or the caller's)."""
    from ._models import SimpleBusinessUnit  # loaded by the first request, if not before

    tree = root if isinstance(root, SimpleBusinessUnit) else await api.bunit_tree(root)
    failed: list[UnitError] = []

    async def list_consumers(unit: models.SimpleBusinessUnit) -> list[models.Consumer]:
        if unit.id is None:
            raise DecodeError(f"a business unit in the tree has no id: {unit!r}")
        return await api.bunit(unit.id).consumers()

    async with api.map(list_consumers, flatten(tree), concurrency=concurrency) as results:
        async for result in results:
            unit = result.item
            outcomes: list[ConsumerEntry | UnitError]
            if result.error is not None:
                outcomes = [UnitError(unit, result.error)]
            else:
                outcomes = [_entry(api, unit, consumer) for consumer in result.value or ()]
            for outcome in outcomes:
                if isinstance(outcome, ConsumerEntry) or unit_errors == "yield":
                    yield outcome
                else:
                    failed.append(outcome)
    if failed:
        first = failed[0]
        more = f"; {len(failed) - 1} more failed" if len(failed) > 1 else ""
        add_note = getattr(first.error, "add_note", None)  # Python 3.11+
        if add_note is not None:
            add_note(
                f"walking the consumers of business unit {first.bunit.id}{more};"
                " walk_consumers(unit_errors='yield') gives each failure as a UnitError"
            )
        raise first.error


def _entry(
    api: Cloutility, unit: models.SimpleBusinessUnit, consumer: models.Consumer
) -> ConsumerEntry | UnitError:
    if unit.id is not None and consumer.id is not None:
        return ConsumerEntry(unit, consumer, api.bunit(unit.id).consumer(consumer.id))
    if consumer.href:
        try:
            ref = api.ref(consumer.href)
        except ValidationError as exc:
            return UnitError(unit, exc, consumer)
        if isinstance(ref, ConsumerRef):
            return ConsumerEntry(unit, consumer, ref)
    error = DecodeError(f"a consumer of business unit {unit.id} has neither id nor href")
    return UnitError(unit, error, consumer)
