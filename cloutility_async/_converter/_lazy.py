"""Tolerant reads build nested objects on first access.

A tolerant read leaves each nested object of the body (a dict in a model-typed
field) as a `Pending` that the field builds when it is first read: a bulk run
that reads a consumer's name never builds its business unit, time zone and
lookups. What the object holds is decided only then: drift in it is recorded in
its own ``unparsed`` and reported to the reading's callback when it is built
(the parent's ``unparsed`` never depends on it: a JSON object in a model field
always reads as a model). Strict reads stay eager, so that drift anywhere raises
at the call, not at an attribute access later: a strict read checks each
nested object at the call and keeps it unbuilt all the same.

These are the hooks of the tolerant converter's nested fields; the build itself
is ``_structure.build_pending``.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from .._models._base import Pending
from ._reading import TOLERANT, Reading
from ._shapes import array_items

if TYPE_CHECKING:
    import cattrs

    from ._scalars import Hook

__all__ = ["CONTEXT", "Context", "Where", "body_path", "items_hook", "pending_hook"]

#: A body's place, built only when a drift is reported: None for the body itself,
#: then (parent, attribute) or (parent, attribute, index) for a list item.
Where = tuple[Any, ...] | None


class Context:
    """The tolerant read under way: its reading, and where in the body it is."""

    __slots__ = ("reading", "where")

    def __init__(self, reading: Reading, where: Where) -> None:
        self.reading = reading
        self.where = where


def body_path(where: Where) -> str:
    parts: list[str] = []
    while where is not None:
        if len(where) == 3:
            parts.append(f".{where[1]}[{where[2]}]" if where[1] else f"[{where[2]}]")
        else:
            parts.append(f".{where[1]}")
        where = where[0]
    return "$" + "".join(reversed(parts))


def pending_hook(attr: str, tp: Any, shaped: Hook, check: Hook) -> Hook:
    """A nested model field's hook: an object is left as a `Pending`; other shapes are read.

    A strict read checks the object first, with ``check`` (the strict converter's
    hook, which builds it and raises at the first bad value), and keeps only the
    `Pending`: the error comes at the call, and a kept model holds no more than
    a tolerant one. The object built on access then comes from a body known to
    be good, so it is read without a report.
    """

    def pending_or_read(value: Any, _: Any) -> Any:
        if type(value) is dict:
            context = CONTEXT.get()
            reading = context.reading
            if reading.strict:
                check(value, tp)
                reading = TOLERANT
            return Pending(value, tp, reading, context.where, attr)
        return shaped(value, tp)  # null, "", a bare name for a lookup, or raises

    return pending_or_read


def items_hook(attr: str, elem: Any, converter: cattrs.Converter) -> Hook:
    """A list of models' hook that keeps track of each item's place, for its nested objects."""
    handler = converter.get_structure_hook(elem)

    def structure_items(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            value = array_items(value)
        context = CONTEXT.get()
        where = context.where
        read = []
        try:
            for index, item in enumerate(value):
                context.where = (where, attr, index)
                read.append(handler(item, elem))
        finally:
            context.where = where
        return tuple(read)

    return structure_items


#: Set by every tolerant read (and nested build) for the hooks it runs.
CONTEXT: contextvars.ContextVar[Context] = contextvars.ContextVar("cloutility_reading")
