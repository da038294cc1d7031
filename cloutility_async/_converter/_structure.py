"""Reading JSON into models: the generated readers first, the field-by-field walk if they fail."""

from __future__ import annotations

import types
from typing import Any, TypeVar, cast

from cattrs.errors import StructureHandlerNotFoundError

from .._models import Collection
from .._models._base import set_builder
from ._fieldwalk import Walk, read_model, read_top
from ._hooks import eager_converter
from ._readers import Reader, body_path, reader_for
from ._reading import STRICT, ConversionError, Reading
from ._shapes import type_name

__all__ = ["build_nested", "read", "structure", "structure_collection", "structure_list"]

T = TypeVar("T")


def structure(data: Any, cls: type[T], reading: Reading = STRICT) -> T:
    """Convert decoded JSON into ``cls`` (a model, ``Collection[X]``, ``tuple[X, ...]``, ...).

    Tolerant as the package docstring says; ``reading`` says what happens
    to a value that still cannot be read. A body that is not even of the kind
    ``cls`` needs (a string for a model) raises `ConversionError` either way.
    """
    result: T = read(data, cls, reading, None)
    return result


def read(
    data: Any, cls: Any, reading: Reading, name: str | None, reader: Reader | None = None
) -> Any:
    """`structure` with the type name its errors give (``None``: from ``cls``)."""
    try:
        reader = reader or reader_for(cls)
        if reader is not None:
            return reader.read(data, reading, None)
        return eager_converter.structure(data, cls)  # no model in it: nothing to leave unbuilt
    except StructureHandlerNotFoundError:
        name = name or type_name(cls)
        raise TypeError(f"cannot structure into {name}: unsupported type") from None
    except Exception as exc:
        error = exc
    name = name or type_name(cls)
    walk = Walk()
    result = read_top(data, cls, walk, name, error)
    if walk.problems:
        if reading.strict:
            raise ConversionError(name, [f"{message} @ {d.path}" for d, message in walk.problems])
        if reading.report is not None:
            for drift, _ in walk.problems:
                reading.report(drift)
    return result


def structure_list(data: Any, cls: type[T], reading: Reading = STRICT) -> list[T]:
    """Convert a JSON array of objects into a list of ``cls``; ``null`` gives ``[]``.

    Tolerant: an item that cannot be read is left out and reported (a list has
    no ``unparsed`` of its own; `structure_collection` keeps them).
    """
    cls_tuple = types.GenericAlias(tuple, (cls, ...))
    items: tuple[T, ...] = read(data, cls_tuple, reading, f"list[{type_name(cls)}]")
    return list(items)


def structure_collection(data: Any, item_cls: type[T], reading: Reading = STRICT) -> Collection[T]:
    """Convert a list body ``{href, total, offset, first, items}`` into a `Collection`.

    A bare JSON array is accepted as the items of a collection (``raw`` is then
    ``{"items": [...]}``). Tolerant: an item that cannot be read at all is
    recorded in the collection's ``unparsed`` as ``"items[index]"``.
    """
    if isinstance(data, list):
        data = {"items": data}
    reader = _COLLECTIONS.get(item_cls)
    if reader is None:  # once per item type: a typing subscript and its hash are not cheap
        found = reader_for(cast(Any, Collection)[item_cls])
        assert found is not None
        reader = _COLLECTIONS[item_cls] = found
    collection: Collection[T] = read(data, reader.type, reading, None, reader)
    return collection


_COLLECTIONS: dict[Any, Reader] = {}


def build_nested(data: dict[str, Any], tp: Any, unbuilt: tuple[Reading, Any], attr: str) -> Any:
    """Build a nested object left by a read (``unbuilt``: its owner's reading and place),
    reporting its drift now."""
    reading, where = unbuilt[0], (unbuilt[1], attr)
    reader = reader_for(tp)
    assert reader is not None
    try:
        return reader.read(data, reading, where)
    except Exception:  # drift in this object: read it field by field
        walk = Walk()
        obj = read_model(data, tp, walk, body_path(where))
    if reading.report is not None:
        for drift, _ in walk.problems:
            reading.report(drift)
    return obj


set_builder(build_nested)
