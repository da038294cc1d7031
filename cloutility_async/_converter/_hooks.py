"""The cattrs side: hook factories, the model classes' generated functions, the converter.

A model class's structuring function is all-or-nothing cattrs code, generated
once, on first use: the first value it cannot read raises. Reads go through
the generated readers of ``_readers``, which leave nested objects for their
fields to build on access; this converter builds whole trees at once: it checks
a strict read's nested objects, gives the walk (``_fieldwalk``) its field hooks,
reads types that hold no model, and unstructures. It is not cattrs' global one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar, get_args

import cattrs
from cattrs.errors import StructureHandlerNotFoundError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .._models import ALL_MODELS, AuditLogType, Collection
from ._dates import format_datetime, format_timespan
from ._keys import INTERNAL_FIELDS, model_info
from ._reading import BadValue, describe
from ._scalars import (
    OPTIONAL_SCALARS,
    Hook,
    opt_datetime_or_bool,
    to_bool,
    to_datetime,
    to_float,
    to_int,
    to_str,
    to_timedelta,
)
from ._shapes import (
    NoneType,
    array_items,
    as_object,
    is_homogeneous_tuple,
    is_model,
    is_optional,
    model_origin,
)

__all__ = ["ModelHooks", "eager_converter", "eager_hooks"]


def _structure_optional_factory(
    tp: Any, converter: cattrs.Converter, model_hooks: ModelHooks
) -> Hook:
    args = [arg for arg in get_args(tp) if arg is not NoneType]
    if len(args) == 1:
        inner = args[0]
        scalar = OPTIONAL_SCALARS.get(inner)
        if scalar is not None:
            return scalar
        if is_model(inner):
            return model_hooks.get(inner, none_ok=True)
        handler = converter.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            if value is None or value == "":
                return None
            return handler(value, inner)

        return structure_optional
    if set(args) == {datetime, bool}:
        return opt_datetime_or_bool
    raise StructureHandlerNotFoundError(f"no structure hook for {tp!r}", tp)


def _structure_tuple_factory(tp: Any, converter: cattrs.Converter) -> Hook:
    elem = get_args(tp)[0]
    handler = None if elem is Any else converter.get_structure_hook(elem)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            value = array_items(value)
        if handler is None:
            return tuple(value)
        return tuple([handler(item, elem) for item in value])

    return structure_tuple


def _structure_int_enum_factory(tp: Any) -> Hook:
    def structure_int_enum(value: Any, _: Any) -> Any:
        return value if isinstance(value, tp) else tp(to_int(value))

    return structure_int_enum


class ModelHooks:
    """Structure hooks of the model classes, one per type, generated once.

    A hook is handed out before its function is generated: the function is
    generated on the hook's first call (or by `build_all`), so the cycles
    between models (BusinessUnit -> Consumer -> BusinessUnit) need no late
    binding and importing stays cheap. The hooks are all-or-nothing: the first
    value they cannot read raises, and `structure` then walks the body field by
    field (`read_model`) to find every such value.
    """

    def __init__(self, converter: cattrs.Converter) -> None:
        self.converter = converter
        # cattrs asks for field hooks without caching them: cache ours.
        self.hooks: dict[tuple[Any, bool], Hook] = {}
        self.pending: list[Callable[[], object]] = []

    def factory(self, tp: Any) -> Hook:
        return self.get(tp, none_ok=False)

    def get(self, tp: Any, *, none_ok: bool) -> Hook:
        if tp is Collection:
            tp = Collection[Any]
        hook = self.hooks.get((tp, none_ok))
        if hook is None:
            hook = self.hooks[tp, none_ok] = self._new(tp, none_ok=none_ok)
        return hook

    def build_all(self) -> None:
        for model in ALL_MODELS:
            self.converter.get_structure_hook(model)
        while self.pending:
            self.pending.pop()()

    def _new(self, tp: Any, *, none_ok: bool) -> Hook:
        origin = model_origin(tp)
        assert origin is not None
        info = model_info(origin)
        known = info.known
        overrides: dict[str, Any] = {name: override(omit=True) for name in INTERNAL_FIELDS}
        overrides.update({name: override(rename=key) for name, key in info.keys.items()})
        converter = self.converter
        set_attribute = object.__setattr__
        built: Callable[[Mapping[str, Any]], Any] | None = None

        def build() -> Callable[[Mapping[str, Any]], Any]:
            nonlocal built
            if built is None:
                built = make_dict_structure_fn(
                    tp,
                    converter,
                    _cattrs_forbid_extra_keys=False,
                    _cattrs_detailed_validation=False,
                    **overrides,
                )
            return built

        def structure_model(data: Any, _: Any = None) -> Any:
            if type(data) is not dict:
                if none_ok and (data is None or data == ""):
                    return None
                shaped = as_object(data, origin)
                if shaped is None:
                    raise BadValue(f"expected a JSON object, got {describe(data)}")
                data = shaped
            obj = (built or build())(data)
            # Frozen instances: raw and extra are set right after construction.
            # raw is the caller's object itself: no copy, this runs per object.
            set_attribute(obj, "raw", data)
            if not data.keys() <= known:
                set_attribute(obj, "extra", {k: v for k, v in data.items() if k not in known})
            return obj

        self.pending.append(build)
        return structure_model


def _unstructure_model_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    origin = model_origin(tp)
    assert origin is not None
    overrides: dict[str, Any] = {name: override(omit=True) for name in INTERNAL_FIELDS}
    overrides.update({name: override(rename=key) for name, key in model_info(origin).keys.items()})
    return make_dict_unstructure_fn(
        Collection[Any] if tp is Collection else tp,
        converter,
        _cattrs_omit_if_default=True,
        **overrides,
    )


def _unstructure_tuple_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    elem = get_args(tp)[0]
    if elem is Any or isinstance(elem, TypeVar):
        return lambda value: [converter.unstructure(item) for item in value]
    handler = converter.get_unstructure_hook(elem)
    return lambda value: [handler(item) for item in value]


def make_converter() -> tuple[cattrs.Converter, ModelHooks]:
    converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    model_hooks = ModelHooks(converter)
    # Exact classes go through singledispatch, which cattrs consults first: an
    # IntEnum must be registered itself or it would take int's hook.
    converter.register_structure_hook(str, lambda v, _: to_str(v))
    converter.register_structure_hook(int, lambda v, _: to_int(v))
    converter.register_structure_hook(float, lambda v, _: to_float(v))
    converter.register_structure_hook(bool, lambda v, _: to_bool(v))
    converter.register_structure_hook(datetime, lambda v, _: to_datetime(v))
    converter.register_structure_hook(timedelta, lambda v, _: to_timedelta(v))
    converter.register_structure_hook(AuditLogType, _structure_int_enum_factory(AuditLogType))
    converter.register_structure_hook_factory(
        is_optional, lambda tp: _structure_optional_factory(tp, converter, model_hooks)
    )
    converter.register_structure_hook_factory(is_homogeneous_tuple, _structure_tuple_factory)
    converter.register_structure_hook_factory(is_model, model_hooks.factory)

    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_unstructure_hook(timedelta, format_timespan)
    converter.register_unstructure_hook_factory(is_homogeneous_tuple, _unstructure_tuple_factory)
    converter.register_unstructure_hook_factory(is_model, _unstructure_model_factory)
    return converter, model_hooks


#: The eager converter: it builds whole trees (a strict read's check of a nested
#: object, `unstructure`, the slow path's field hooks). Per-class functions are
#: generated on first use, once (`eager_hooks.build_all()` generates them all).
eager_converter, eager_hooks = make_converter()
