"""What a read does with a value it cannot convert: raise, or record it and go on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from .._drift import SchemaDrift

__all__ = ["STRICT", "TOLERANT", "BadValue", "ConversionError", "Reading", "describe"]


class ConversionError(ValueError):
    """JSON that cannot be converted into the requested model.

    ``errors`` holds one ``"<problem> @ $.<field path>"`` line per bad value
    (paths use the Python attribute names).
    """

    def __init__(self, type_name: str, errors: Sequence[str]) -> None:
        self.type_name = type_name
        self.errors = tuple(errors)
        super().__init__(f"cannot convert JSON to {type_name}: {'; '.join(self.errors)}")


class BadValue(ValueError):
    """A value of the wrong shape; its message is shown as is in `ConversionError`."""


def describe(value: Any) -> str:
    """A value's type and (shortened) repr, for an error message."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


@attrs.frozen
class Reading:
    """How `structure` treats a value it cannot read into its field.

    ``strict``: raise `ConversionError` naming every such value and its path.
    Otherwise give the field its default, record the value in the model's
    ``unparsed`` and call ``report`` (if any) once per value with a `SchemaDrift`:
    a client passes its own callback, so that it logs and counts drift per client.
    """

    strict: bool = True
    report: Callable[[SchemaDrift], None] | None = None


#: Raise one `ConversionError` that lists every value that cannot be read.
STRICT = Reading()
#: Read what can be read and tell no one (for re-reading ``raw`` in `to_payload`).
TOLERANT = Reading(strict=False)
