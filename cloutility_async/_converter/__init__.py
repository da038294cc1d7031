"""The one cattrs converter: camelCase JSON in and out of the frozen models.

Structuring (server JSON -> model) accepts every shape that clearly means
what the model says:

* any field may be missing or ``null`` (-> its default: ``None`` or ``()``), and
  a blank string counts as missing in any field that is not a string;
* keys no field maps are kept in ``extra``; every model keeps the object it was
  built from in ``raw`` (nested models too);
* ``"12"``/``"12.5"`` for numbers, ``"true"``/``"false"``/``1``/``0`` for booleans;
* dates as ``2023-06-10T11:10:11.321Z``, ``2023-06-09T00:00:00Z``,
  ``2024-05-20T19:06:03.0810281+02:00`` (truncated to microseconds), or without
  time or zone (taken as UTC): always an aware ``datetime`` that converts to UTC
  without overflow. .NET's default date ``0001-01-01T00:00:00`` (in any zone)
  means "no date" and reads as ``None``; an instant past the end of Python's
  range in UTC (``9999-12-31T23:59:59-05:00``) reads as ``datetime.max`` in UTC;
* .NET TimeSpans ``[-][d.]hh:mm:ss[.fffffff]``, or a number of seconds, -> ``timedelta``;
* a bare number or name where an ``{id, name}`` `Lookup` is modelled
  (``Lookup(id=2)``, ``Lookup(name="Active")``), a collection object
  ``{href, total, items}`` where an array is modelled, and an array where a
  `Collection` is modelled.

A value that still cannot be converted (an object where a string is expected,
``12.5`` for an integer, ``"yes"`` for a boolean: conversion is never lossy)
depends on the `Reading` the caller passes. Strict (the default of these
functions): `ConversionError`, naming the class and every bad field's path.
Tolerant (what a client does unless ``strict=True``): the field gets its
default, the value is recorded in the owning model's ``unparsed`` under its
JSON key, every other field is read as usual, and a `SchemaDrift` goes to the
reading's ``report`` callback. A list keeps every item it can read; an item
that is not an object at all is recorded as ``unparsed["key[index]"]``.

The fast path is one generated function per model type, all or nothing: it
builds the instance directly, with each field's common case (a string where a
string is modelled...) checked inline; only when it fails does a slower
field-by-field walk run, so well-formed bodies pay nothing for the tolerance.
A read leaves each nested object (a JSON object in a model-typed field) unbuilt
until its field is first read. A tolerant read reports that object's drift
then; a strict read checks every nested object at the call, so that it raises
there, and keeps it unbuilt all the same.

Writing back (model -> server JSON): `to_payload` is lossless. It starts from
``raw`` and overlays only the fields whose value differs from what ``raw``
gives, so the server gets back every key it sent, unknown ones included, in
their original form. `unstructure` is the model's own view only (no ``raw``,
no ``extra``, no ``None`` or empty fields): never use it for a PUT.

Dates are written as UTC ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (the fraction only
when the microseconds are not zero) and durations as ``[-][d.]hh:mm:ss[.fffffff]``.

The package, one concern per module: ``_reading`` (strict or tolerant, the
errors), ``_dates`` (the one UTC date formatter, TimeSpans), ``_keys`` (the one
camelCase helper, JSON keys), ``_scalars`` (hooks of the scalar types),
``_shapes`` (what a type or a value is), ``_hooks`` (cattrs: the eager
converter), ``_readers`` (the generated reading functions, nested objects left
for access), ``_fieldwalk`` (the slow path), ``_structure`` (reading) and
``_payload`` (writing). The converter is never cattrs' global one; each model
class's reading function is generated once, on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._dates import format_datetime, format_timespan, parse_datetime, parse_timespan
from ._keys import camel, json_keys
from ._reading import STRICT, TOLERANT, ConversionError, Reading

if TYPE_CHECKING:
    from ._payload import json_value, to_payload, unstructure
    from ._structure import structure, structure_collection, structure_list

__all__ = [
    "STRICT",
    "TOLERANT",
    "ConversionError",
    "Reading",
    "camel",
    "format_datetime",
    "format_timespan",
    "json_keys",
    "json_value",
    "parse_datetime",
    "parse_timespan",
    "structure",
    "structure_collection",
    "structure_list",
    "to_payload",
    "unstructure",
]

# Reading and writing need cattrs and every model class (most of the package's
# import time): they are imported on first use. Dates, keys and `Reading` are not.
_ON_FIRST_USE = {
    "structure": "._structure",
    "structure_collection": "._structure",
    "structure_list": "._structure",
    "json_value": "._payload",
    "to_payload": "._payload",
    "unstructure": "._payload",
}


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
