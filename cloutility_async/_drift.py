"""Schema drift: values the portal sent that the models could not read, and who hears of them.

The converter reports each such value as a `SchemaDrift` to the callback it is
given (see ``_converter.Reading``). A client keeps one `DriftLog`: it counts every
drifted value for ``statistics()`` and logs each (model, field) once, at WARNING,
as ``cloutility.schema_drift``. A drift record never holds the value itself: it
may be a secret (a node's password), and the model's ``unparsed`` has it anyway.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from ._records import log_event

__all__ = ["DriftLog", "SchemaDrift", "json_type"]

logger = logging.getLogger("cloutility_async.schema")


@attrs.frozen
class SchemaDrift:
    """One value the converter could not read into its field."""

    #: The model class that owns the field (``"Consumer"``, ``"Collection[Job]"``).
    model: str
    #: The field's attribute name (``"business_unit"``).
    field: str
    #: Where the value is recorded in that model's ``unparsed``: the JSON key, or
    #: ``"key[index]"`` for one item of a list that could not be read.
    key: str
    #: The JSON type that arrived: object, array, string, number, boolean or null.
    json_type: str
    #: What the field expects, as a type name (``"int"``, ``"Lookup"``).
    expected: str
    #: Where in the body the value was, by attribute names (``"$.items[3].node.locked"``).
    path: str


def json_type(value: Any) -> str:
    """The JSON type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class DriftLog:
    """A client's record of schema drift: every value counted, each (model, field) logged once."""

    __slots__ = ("_seen", "count")

    def __init__(self) -> None:
        self.count = 0
        self._seen: set[tuple[str, str]] = set()

    def record(self, drift: SchemaDrift) -> None:
        """Count ``drift``; log it if its (model, field) is new to this client."""
        self.count += 1
        where = (drift.model, drift.field)
        if where in self._seen:
            return
        self._seen.add(where)
        log_event(
            logger,
            logging.WARNING,
            "cloutility.schema_drift",
            "%(model)s.%(field)s got a JSON %(json_type)s, expected %(expected)s"
            " (at %(path)s; kept in unparsed[%(key)r])",
            model=drift.model,
            field=drift.field,
            json_type=drift.json_type,
            expected=drift.expected,
            path=drift.path,
            key=drift.key,
            drift=drift,
        )
