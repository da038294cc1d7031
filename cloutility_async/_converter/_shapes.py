"""What a type or a JSON value is, as the converter sees it: pure functions, no cattrs."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin

from .._models import Collection, Lookup, Model
from ._reading import BadValue, describe

__all__ = [
    "NoneType",
    "array_items",
    "as_array",
    "as_object",
    "is_homogeneous_tuple",
    "is_model",
    "is_optional",
    "is_union",
    "model_origin",
    "substitute",
    "type_name",
]

NoneType = type(None)


def is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def is_optional(tp: Any) -> bool:
    return is_union(tp) and NoneType in get_args(tp)


def is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def model_origin(tp: Any) -> type[Model] | None:
    origin = get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, Model):
        return origin
    return None


def is_model(tp: Any) -> bool:
    return model_origin(tp) is not None


def type_name(tp: Any) -> str:
    if is_union(tp):
        return " | ".join("None" if a is NoneType else type_name(a) for a in get_args(tp))
    origin = get_origin(tp)
    if origin is not None:
        args = ", ".join("..." if a is Ellipsis else type_name(a) for a in get_args(tp))
        return f"{getattr(origin, '__name__', repr(origin))}[{args}]"
    return getattr(tp, "__name__", repr(tp))


def substitute(tp: Any, mapping: Mapping[Any, Any]) -> Any:
    if isinstance(tp, TypeVar):
        return mapping.get(tp, Any)
    params = getattr(tp, "__parameters__", ())
    if params:
        return tp[tuple(mapping.get(p, Any) for p in params)]
    return tp


def as_array(value: Any) -> Any:
    """The list ``value`` stands for where an array is modelled, or None.

    A collection object ``{href, total, items}`` stands for its items.
    """
    if isinstance(value, (list, tuple)):
        return value
    if isinstance(value, Mapping) and "items" in value:
        items = value["items"]
        if items is None:
            return []
        if isinstance(items, list):
            return items
    return None


def array_items(value: Any) -> Any:
    """What a value that is not a list gives where an array is modelled.

    ``null`` and ``""`` give no items, a collection object its items; anything
    else is a `BadValue`.
    """
    if value is None or value == "":
        return ()
    items = as_array(value)
    if items is None:
        raise BadValue(f"expected a JSON array, got {describe(value)}")
    return items


def as_object(value: Any, origin: type) -> Mapping[str, Any] | None:
    """The JSON object ``value`` stands for where a model ``origin`` is expected, or None.

    An array stands for a `Collection` of its items; a number or a name for a
    `Lookup` (.NET enums such as ErrorStatus may come as bare numbers, and
    lookups as bare names).
    """
    if isinstance(value, Mapping):
        return value
    if origin is Collection:
        if isinstance(value, list):
            return {"items": value}
    elif issubclass(origin, Lookup):
        if type(value) is int:
            return {"id": value}
        if type(value) is str:
            text = value.strip()
            if text.isdigit() and text.isascii():
                return {"id": int(text)}
            if text:
                return {"name": value}
    return None
