"""The slow path: a body read field by field, only after the generated function failed.

The walk finds every value that cannot be read (not just the first), with its
path; a strict read raises them all in one `ConversionError`, a tolerant one
records each in its model's ``unparsed`` and reports it as a `SchemaDrift`.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any, get_args

import attrs

from .._drift import SchemaDrift, json_type
from .._models import Collection
from ._hooks import eager_converter
from ._keys import INTERNAL_FIELDS, model_info
from ._reading import BadValue, ConversionError, describe
from ._scalars import Hook
from ._shapes import (
    NoneType,
    as_array,
    as_object,
    is_homogeneous_tuple,
    is_model,
    is_optional,
    model_origin,
    substitute,
    type_name,
)

__all__ = ["Walk", "read_model", "read_top"]


@attrs.frozen
class Field:
    """What the walk needs of one field: its names, its type and how to read it."""

    attr: str
    key: str
    type: Any
    hook: Hook
    model: Any  # the model type when the field holds one model, else None
    elem: Any  # the element type of a tuple field, else None
    elem_model: Any  # ``elem`` when it is a model type, else None
    secret: bool  # left out of the repr: its value is never shown in an error


@attrs.frozen
class Plan:
    """A model type's fields as the walk reads them (``Collection[X]`` has its own)."""

    cls: type
    name: str
    known: frozenset[str]
    fields: tuple[Field, ...]


_PLANS: dict[Any, Plan] = {}


def plan_of(tp: Any) -> Plan:
    plan = _PLANS.get(tp)
    if plan is None:
        origin = model_origin(tp)
        assert origin is not None
        mapping = dict(zip(getattr(origin, "__parameters__", ()), get_args(tp), strict=False))
        info = model_info(origin)
        fields = []
        for field in attrs.fields(origin):
            if field.name in INTERNAL_FIELDS:
                continue
            ftype = substitute(field.type, mapping)
            inner = [arg for arg in get_args(ftype) if arg is not NoneType]
            model = inner[0] if is_optional(ftype) and len(inner) == 1 else ftype
            elem = get_args(ftype)[0] if is_homogeneous_tuple(ftype) else None
            fields.append(
                Field(
                    attr=field.name,
                    key=info.keys[field.name],
                    type=ftype,
                    hook=eager_converter.get_structure_hook(ftype),
                    model=model if is_model(model) else None,
                    elem=elem,
                    elem_model=elem if elem is not None and is_model(elem) else None,
                    secret=not field.repr,
                )
            )
        plan = _PLANS[tp] = Plan(
            cls=origin, name=type_name(tp), known=info.known, fields=tuple(fields)
        )
    return plan


class Walk:
    """One slow-path read: every value that could not be read, in body order."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[tuple[SchemaDrift, str]] = []  # the drift, the error message

    def unreadable(
        self, owner: str, field: Field | None, key: str, value: Any, error: Exception, path: str
    ) -> None:
        expected = type_name(field.type if field is not None else Any)
        if field is not None and field.secret:
            message = f"expected {expected}, got a JSON {json_type(value)} (value hidden)"
        elif isinstance(error, BadValue):
            message = str(error)
        else:
            message = f"expected {expected}, got {describe(value)}"
        drift = SchemaDrift(
            model=owner,
            field=field.attr if field is not None else "",
            key=key,
            json_type=json_type(value),
            expected=expected,
            path=path,
        )
        self.problems.append((drift, message))


def read_model(data: Mapping[str, Any], tp: Any, walk: Walk, path: str) -> Any:
    """Read ``data`` into model type ``tp`` field by field, recording what cannot be read."""
    plan = plan_of(tp)
    values: dict[str, Any] = {}
    unparsed: dict[str, Any] = {}
    for field in plan.fields:
        if field.key not in data:
            continue
        value = data[field.key]
        try:
            values[field.attr] = field.hook(value, field.type)
            continue
        except Exception as exc:  # only this field's value is at fault
            error = exc
        where = f"{path}.{field.attr}"
        if field.model is not None:
            shaped = as_object(value, model_origin(field.model) or object)
            if shaped is not None:
                values[field.attr] = read_model(shaped, field.model, walk, where)
                continue
        elif field.elem is not None:
            items = as_array(value)
            if items is not None:
                values[field.attr] = read_items(items, field, plan.name, unparsed, walk, where)
                continue
        unparsed[field.key] = value
        walk.unreadable(plan.name, field, field.key, value, error, where)
    obj = plan.cls(**values)
    set_attribute = object.__setattr__
    set_attribute(obj, "raw", data)
    if not data.keys() <= plan.known:
        set_attribute(obj, "extra", {k: v for k, v in data.items() if k not in plan.known})
    if unparsed:
        set_attribute(obj, "unparsed", types.MappingProxyType(unparsed))
    return obj


def read_items(
    items: Sequence[Any],
    field: Field,
    owner: str,
    unparsed: dict[str, Any],
    walk: Walk,
    path: str,
) -> tuple[Any, ...]:
    """Every item of a list field that can be read; the others go to ``unparsed``."""
    elem = field.elem
    hook = eager_converter.get_structure_hook(elem)
    origin = model_origin(field.elem_model) if field.elem_model is not None else None
    read = []
    for index, item in enumerate(items):
        try:
            read.append(hook(item, elem))
            continue
        except Exception as exc:
            error = exc
        where = f"{path}[{index}]"
        shaped = None if origin is None else as_object(item, origin)
        if shaped is not None:
            read.append(read_model(shaped, field.elem_model, walk, where))
            continue
        key = f"{field.key}[{index}]"
        unparsed[key] = item
        walk.unreadable(owner, field, key, item, error, where)
    return tuple(read)


def read_top(data: Any, cls: Any, walk: Walk, name: str, error: Exception) -> Any:
    """The slow read of a whole body; a body that is not even of the right kind raises."""
    origin = model_origin(cls)
    if origin is not None:
        shaped = as_object(data, origin)
        if shaped is not None:
            return read_model(shaped, Collection[Any] if cls is Collection else cls, walk, "$")
    elif is_homogeneous_tuple(cls):
        items = [] if data is None else as_array(data)
        if items is not None:
            elem = get_args(cls)[0]
            field = Field(
                attr="",
                key="",
                type=cls,
                hook=eager_converter.get_structure_hook(cls),
                model=None,
                elem=elem,
                elem_model=elem if is_model(elem) else None,
                secret=False,
            )
            return read_items(items, field, name, {}, walk, "$")
    message = str(error) if isinstance(error, BadValue) else f"cannot read {describe(data)}"
    raise ConversionError(name, [f"{message} @ $"])
