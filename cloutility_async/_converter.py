"""The one cattrs converter: camelCase JSON in and out of the frozen models.

Structuring (server JSON -> model) is tolerant:

* any field may be missing or ``null`` (-> its default: ``None`` or ``()``);
* keys no field maps are kept in ``extra``; every model keeps the object it was
  built from in ``raw`` (nested models too);
* ``"12"``/``"12.5"`` for numbers, ``"true"``/``"false"`` for booleans, and a
  blank string for a number, boolean, date or duration (-> ``None``);
* dates as ``2023-06-10T11:10:11.321Z``, ``2023-06-09T00:00:00Z``,
  ``2024-05-20T19:06:03.0810281+02:00`` (truncated to microseconds), or without
  time or zone (taken as UTC): always an aware ``datetime``;
* .NET TimeSpans ``[-][d.]hh:mm:ss[.fffffff]`` -> ``timedelta``.

A value that cannot be converted (an object where a string is expected, ``12.5``
for an integer, ...) raises `ConversionError`, naming the class and field path.

Writing back (model -> server JSON): `to_payload` is lossless. It starts from
``raw`` and overlays only the fields whose value differs from what ``raw``
gives, so the server gets back every key it sent, unknown ones included, in
their original form. `unstructure` is the model's own view only (no ``raw``,
no ``extra``, no ``None`` or empty fields): never use it for a PUT.

Dates are written as UTC ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (the fraction only
when the microseconds are not zero) and durations as ``[-][d.]hh:mm:ss[.fffffff]``.

The converter is built once, at import, and is never cattrs' global one. Each
model class's structuring function is generated once, on first use.
"""

from __future__ import annotations

import enum
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar, cast, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    IterableValidationError,
    IterableValidationNote,
    StructureHandlerNotFoundError,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception, transform_error

from ._models import ALL_MODELS, EMPTY_MAPPING, AuditLogType, Collection, Lookup, Model

__all__ = [
    "ConversionError",
    "format_datetime",
    "format_timespan",
    "json_keys",
    "parse_datetime",
    "parse_timespan",
    "structure",
    "structure_collection",
    "structure_list",
    "to_payload",
    "unstructure",
]

T = TypeVar("T")

_UTC = timezone.utc
_NoneType = type(None)
_Hook = Callable[[Any, Any], Any]


class ConversionError(ValueError):
    """JSON that cannot be converted into the requested model.

    ``errors`` holds one ``"<problem> @ $.<field path>"`` line per bad value
    (paths use the Python attribute names).
    """

    def __init__(self, type_name: str, errors: Sequence[str]) -> None:
        self.type_name = type_name
        self.errors = tuple(errors)
        super().__init__(f"cannot convert JSON to {type_name}: {'; '.join(self.errors)}")


class _BadValue(ValueError):
    """A value of the wrong shape; its message is shown as is in `ConversionError`."""


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


# --- camelCase keys ----------------------------------------------------------------------

# Where the JSON key is not the camelCase of the attribute name.
_KEY_OVERRIDES: dict[tuple[str | None, str], str] = {
    (None, "dotnet_type"): "$type",
    # The reference spells it this way.
    ("Activity", "examined_files"): "examindedFiles",
}
_INTERNAL_FIELDS = frozenset({"raw", "extra"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@attrs.frozen
class _ModelInfo:
    keys: Mapping[str, str]  # attribute name -> JSON key
    known: frozenset[str]  # the JSON keys
    fields: tuple[tuple[str, str, Any], ...]  # (attribute, JSON key, default)


_INFO: dict[type, _ModelInfo] = {}


def _info(cls: type) -> _ModelInfo:
    info = _INFO.get(cls)
    if info is None:
        keys: dict[str, str] = {}
        fields = []
        for field in attrs.fields(cls):
            if field.name in _INTERNAL_FIELDS:
                continue
            key = _KEY_OVERRIDES.get(
                (cls.__name__, field.name),
                _KEY_OVERRIDES.get((None, field.name), _camel(field.name)),
            )
            keys[field.name] = key
            fields.append((field.name, key, field.default))
        info = _INFO[cls] = _ModelInfo(
            keys=types.MappingProxyType(keys), known=frozenset(keys.values()), fields=tuple(fields)
        )
    return info


def json_keys(cls: type[Model]) -> Mapping[str, str]:
    """Map each attribute of a model class to its JSON key (``tsm_name`` -> ``tsmName``)."""
    return _info(cls).keys


# --- dates and durations -----------------------------------------------------------------

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:[Zz]|([+-])(\d{2}):?(\d{2})?)?"
)
# 3.11's fromisoformat reads every shape the server sends; 3.10's does not read `Z`.
_FAST_ISO = sys.version_info >= (3, 11)


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 date or date-time as the API writes it into an aware datetime.

    Seven fractional digits are truncated to microseconds; a value without a
    zone (or without a time) is taken as UTC. Raises ``ValueError``.
    """
    text = value.strip()
    parsed: datetime | None = None
    if _FAST_ISO:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None:
        match = _DATETIME_RE.fullmatch(text)
        if match is None:
            raise _BadValue(f"expected an ISO 8601 date, got {_describe(value)}")
        year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        tz = _UTC
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
            if offset:
                tz = timezone(-offset if sign == "-" else offset)
        try:
            parsed = datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                micro,
                tzinfo=tz,
            )
        except ValueError:
            raise _BadValue(f"expected an ISO 8601 date, got {_describe(value)}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed


def format_datetime(value: datetime | date) -> str:
    """Format as ISO 8601 UTC: ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``.

    The fraction is written only when the microseconds are not zero. Naive
    datetimes are taken as UTC; a ``date`` becomes midnight UTC.
    """
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=_UTC)
    elif value.utcoffset() is None:
        value = value.replace(tzinfo=_UTC)
    else:
        value = value.astimezone(_UTC)
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


_TIMESPAN_RE = re.compile(r"(-)?(?:(\d+)[.:])?(\d+):(\d+):(\d+)(?:\.(\d+))?")


def parse_timespan(value: str) -> timedelta:
    """Parse a .NET TimeSpan (``hh:mm:ss``, ``hh:mm:ss.fffffff``, ``d.hh:mm:ss``, ``-...``).

    Fractions beyond microseconds are truncated. Raises ``ValueError``.
    """
    match = _TIMESPAN_RE.fullmatch(value.strip())
    if match is None:
        raise _BadValue(f"expected a TimeSpan like 'd.hh:mm:ss', got {_describe(value)}")
    negative, days, hours, minutes, seconds, fraction = match.groups()
    span = timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int(fraction[:6].ljust(6, "0")) if fraction else 0,
    )
    return -span if negative else span


def format_timespan(value: timedelta) -> str:
    """Format as a .NET TimeSpan: ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{value.days}." if value.days else sign
    text += f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if value.microseconds:
        text += f".{value.microseconds:06d}0"
    return text


# --- scalar structuring ------------------------------------------------------------------


def _to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if number.is_integer():
                return int(number)
    raise _BadValue(f"expected an integer, got {_describe(value)}")


def _to_float(value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _BadValue(f"expected a number, got {_describe(value)}")


_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _to_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        flag = _BOOL_TEXT.get(value.strip().lower())
        if flag is not None:
            return flag
    raise _BadValue(f"expected a boolean, got {_describe(value)}")


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _BadValue(f"expected a string, got {_describe(value)}")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        return parse_datetime(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=_UTC)
    raise _BadValue(f"expected an ISO 8601 date, got {_describe(value)}")


def _to_timedelta(value: Any) -> timedelta:
    if isinstance(value, str):
        return parse_timespan(value)
    if isinstance(value, timedelta):
        return value
    raise _BadValue(f"expected a TimeSpan like 'd.hh:mm:ss', got {_describe(value)}")


# The hooks for `X | None`, with the common case first: they run for every field.


def _opt_str(value: Any, _: Any) -> str | None:
    if type(value) is str or value is None:
        return value
    return _to_str(value)


def _opt_int(value: Any, _: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or value == "":
        return None
    return _to_int(value)


def _opt_float(value: Any, _: Any) -> float | None:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if value is None or value == "":
        return None
    return _to_float(value)


def _opt_bool(value: Any, _: Any) -> bool | None:
    if value is True or value is False or value is None:
        return value
    if value == "":
        return None
    return _to_bool(value)


def _opt_datetime(value: Any, _: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return _to_datetime(value)


def _opt_timedelta(value: Any, _: Any) -> timedelta | None:
    if value is None or value == "":
        return None
    return _to_timedelta(value)


def _opt_datetime_or_bool(value: Any, _: Any) -> datetime | bool | None:
    if value is None or value == "":
        return None
    if value is True or value is False:
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return _to_bool(value)
    return _to_datetime(value)


_OPTIONAL_SCALARS: dict[Any, _Hook] = {
    str: _opt_str,
    int: _opt_int,
    float: _opt_float,
    bool: _opt_bool,
    datetime: _opt_datetime,
    timedelta: _opt_timedelta,
}


# --- hook factories ----------------------------------------------------------------------


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def _is_optional(tp: Any) -> bool:
    return _is_union(tp) and _NoneType in get_args(tp)


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _model_origin(tp: Any) -> type[Model] | None:
    origin = get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, Model):
        return origin
    return None


def _is_model(tp: Any) -> bool:
    return _model_origin(tp) is not None


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is not None:
        args = ", ".join("..." if a is Ellipsis else _type_name(a) for a in get_args(tp))
        return f"{getattr(origin, '__name__', repr(origin))}[{args}]"
    return getattr(tp, "__name__", repr(tp))


def _structure_optional_factory(
    tp: Any, converter: cattrs.Converter, model_hooks: _ModelHooks
) -> _Hook:
    args = [arg for arg in get_args(tp) if arg is not _NoneType]
    if len(args) == 1:
        inner = args[0]
        scalar = _OPTIONAL_SCALARS.get(inner)
        if scalar is not None:
            return scalar
        if _is_model(inner):
            return model_hooks.get(inner, none_ok=True)
        handler = converter.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else handler(value, inner)

        return structure_optional
    if set(args) == {datetime, bool}:
        return _opt_datetime_or_bool
    raise StructureHandlerNotFoundError(f"no structure hook for {tp!r}", tp)


def _structure_tuple_factory(tp: Any, converter: cattrs.Converter) -> _Hook:
    elem = get_args(tp)[0]
    handler = None if elem is Any else converter.get_structure_hook(elem)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if value is None:
            return ()
        if type(value) is not list and not isinstance(value, (list, tuple)):
            raise _BadValue(f"expected a JSON array, got {_describe(value)}")
        if handler is None:
            return tuple(value)
        try:
            return tuple([handler(item, elem) for item in value])
        except Exception:
            # Slow path, only on failure: collect every bad element with its index.
            errors = []
            for index, item in enumerate(value):
                try:
                    handler(item, elem)
                except Exception as exc:
                    note = IterableValidationNote(
                        f"Structuring {tp!r} @ index {index}", index, elem
                    )
                    exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
                    errors.append(exc)
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp) from None

    return structure_tuple


def _structure_int_enum_factory(tp: Any) -> _Hook:
    def structure_int_enum(value: Any, _: Any) -> Any:
        return value if isinstance(value, tp) else tp(_to_int(value))

    return structure_int_enum


class _ModelHooks:
    """Structure hooks of the model classes, one per type, generated once.

    A hook is handed out before its function is generated: the function is
    generated on the hook's first call (or by `build_all`), so the cycles
    between models (BusinessUnit -> Consumer -> BusinessUnit) need no late
    binding and importing stays cheap. Each class gets a fast function and,
    to explain a failure, a detailed-validation one generated and run only then.
    """

    def __init__(self, converter: cattrs.Converter) -> None:
        self.converter = converter
        # cattrs asks for field hooks without caching them: cache ours.
        self.hooks: dict[tuple[Any, bool], _Hook] = {}
        self.pending: list[Callable[[], object]] = []

    def factory(self, tp: Any) -> _Hook:
        return self.get(tp, none_ok=False)

    def get(self, tp: Any, *, none_ok: bool) -> _Hook:
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

    def _new(self, tp: Any, *, none_ok: bool) -> _Hook:
        origin = _model_origin(tp)
        assert origin is not None
        info = _info(origin)
        known = info.known
        by_number = issubclass(origin, Lookup)
        renames: dict[str, Any] = {name: override(rename=key) for name, key in info.keys.items()}
        converter = self.converter
        set_attribute = object.__setattr__
        built: Callable[[Mapping[str, Any]], Any] | None = None
        detailed: Callable[[Mapping[str, Any]], Any] | None = None

        def make(detailed_validation: bool) -> Callable[[Mapping[str, Any]], Any]:
            return make_dict_structure_fn(
                tp,
                converter,
                _cattrs_forbid_extra_keys=False,
                _cattrs_detailed_validation=detailed_validation,
                raw=override(omit=True),
                extra=override(omit=True),
                **renames,
            )

        def build() -> Callable[[Mapping[str, Any]], Any]:
            nonlocal built
            if built is None:
                built = make(False)
            return built

        def structure_model(data: Any, _: Any = None) -> Any:
            if type(data) is not dict:
                if data is None and none_ok:
                    return None
                if by_number and type(data) is int:
                    # .NET enums (ErrorStatus, JobSeverity) may come as bare numbers.
                    return cast(Any, origin)(id=data)
                if not isinstance(data, Mapping):
                    raise _BadValue(f"expected a JSON object, got {_describe(data)}")
            fn = built or build()
            try:
                obj = fn(data)
            except Exception:
                nonlocal detailed
                if detailed is None:
                    detailed = make(True)
                detailed(data)  # raises the same problem, with its field path
                raise
            # Frozen instances: raw and extra are set right after construction.
            # raw is the caller's object itself: no copy, this runs per object.
            set_attribute(obj, "raw", data)
            if not data.keys() <= known:
                set_attribute(obj, "extra", {k: v for k, v in data.items() if k not in known})
            return obj

        self.pending.append(build)
        return structure_model


def _unstructure_model_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    origin = _model_origin(tp)
    assert origin is not None
    renames: dict[str, Any] = {
        name: override(rename=key) for name, key in _info(origin).keys.items()
    }
    return make_dict_unstructure_fn(
        Collection[Any] if tp is Collection else tp,
        converter,
        _cattrs_omit_if_default=True,
        raw=override(omit=True),
        extra=override(omit=True),
        **renames,
    )


def _unstructure_tuple_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    elem = get_args(tp)[0]
    if elem is Any or isinstance(elem, TypeVar):
        return lambda value: [converter.unstructure(item) for item in value]
    handler = converter.get_unstructure_hook(elem)
    return lambda value: [handler(item) for item in value]


def _format_exception(exc: BaseException, tp: type | None) -> str:
    if isinstance(exc, _BadValue):
        return str(exc)
    return format_exception(exc, tp)


def _make_converter() -> tuple[cattrs.Converter, _ModelHooks]:
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    model_hooks = _ModelHooks(converter)
    # Exact classes go through singledispatch, which cattrs consults first: an
    # IntEnum must be registered itself or it would take int's hook.
    converter.register_structure_hook(str, lambda v, _: _to_str(v))
    converter.register_structure_hook(int, lambda v, _: _to_int(v))
    converter.register_structure_hook(float, lambda v, _: _to_float(v))
    converter.register_structure_hook(bool, lambda v, _: _to_bool(v))
    converter.register_structure_hook(datetime, lambda v, _: _to_datetime(v))
    converter.register_structure_hook(timedelta, lambda v, _: _to_timedelta(v))
    converter.register_structure_hook(AuditLogType, _structure_int_enum_factory(AuditLogType))
    converter.register_structure_hook_factory(
        _is_optional, lambda tp: _structure_optional_factory(tp, converter, model_hooks)
    )
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _structure_tuple_factory)
    converter.register_structure_hook_factory(_is_model, model_hooks.factory)

    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_unstructure_hook(timedelta, format_timespan)
    converter.register_unstructure_hook_factory(_is_homogeneous_tuple, _unstructure_tuple_factory)
    converter.register_unstructure_hook_factory(_is_model, _unstructure_model_factory)
    return converter, model_hooks


#: The one converter. Per-class functions are generated on first use, once
#: (`_model_hooks.build_all()` generates all structuring functions up front).
_converter, _model_hooks = _make_converter()


# --- the internal API --------------------------------------------------------------------


def structure(data: Any, cls: type[T]) -> T:
    """Convert decoded JSON into ``cls`` (a model, ``Collection[X]``, ``tuple[X, ...]``, ...).

    Tolerant as described in the module docstring. Raises `ConversionError`.
    """
    result: T = _structure(data, cls, _type_name(cls))
    return result


def _structure(data: Any, cls: Any, name: str) -> Any:
    try:
        result = _converter.structure(data, cls)
    except StructureHandlerNotFoundError:
        raise TypeError(f"cannot structure into {name}: unsupported type") from None
    except Exception as exc:
        messages = transform_error(exc, format_exception=_format_exception)
        raise ConversionError(name, messages) from exc
    return result


def structure_list(data: Any, cls: type[T]) -> list[T]:
    """Convert a JSON array of objects into a list of ``cls``; ``null`` gives ``[]``."""
    items: tuple[T, ...] = _structure(
        data, types.GenericAlias(tuple, (cls, ...)), f"list[{_type_name(cls)}]"
    )
    return list(items)


def structure_collection(data: Any, item_cls: type[T]) -> Collection[T]:
    """Convert a list body ``{href, total, offset, first, items}`` into a `Collection`.

    A bare JSON array is accepted as the items of a collection (``raw`` is then
    ``{"items": [...]}``).
    """
    if isinstance(data, list):
        data = {"items": data}
    collection: Collection[T] = _structure(
        data, cast(Any, Collection)[item_cls], f"Collection[{_type_name(item_cls)}]"
    )
    return collection


def unstructure(obj: Model) -> dict[str, Any]:
    """The model's own fields as camelCase JSON, leaving out ``None`` and empty fields.

    ``raw`` and ``extra`` are not included: for a request body use `to_payload`.
    """
    result: dict[str, Any] = _converter.unstructure(obj)
    return result


def _same(value: Any, original: Any) -> bool:
    # Models compare by fields (not raw). NaN never equals itself but is not a change.
    return bool(value == original) or (value != value and original != original)


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _copy_json(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k: v if type(v) in _ATOMS else _copy_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _ATOMS else _copy_json(v) for v in value]
    return value


def _dump(value: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, Model):
        return to_payload(value)
    if isinstance(value, (tuple, list)):
        return [_dump(item) for item in value]
    if isinstance(value, (datetime, date)):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {key: _dump(item) for key, item in value.items()}
    return value


def to_payload(obj: Model) -> dict[str, Any]:
    """The lossless JSON body for a PUT of ``obj``.

    Starts from a copy of ``obj.raw`` (every key the server sent, in its
    original form) and overlays only the fields whose value differs from what
    ``raw`` gives, recursively: a field set to ``None`` is sent as ``null``.
    Keys of ``extra`` that differ from ``raw`` are overlaid as well. A model
    built by hand (empty ``raw``) gives only its non-default fields.
    """
    cls = type(obj)
    info = _info(cls)
    raw = obj.raw
    payload: dict[str, Any]
    if raw:
        original = _structure(raw, cls, cls.__name__)
        payload = _copy_json(raw)
        original_extra = original.extra
    else:
        original = None
        payload = {}
        original_extra = EMPTY_MAPPING
    for name, key, default in info.fields:
        value = getattr(obj, name)
        before = default if original is None else getattr(original, name)
        if not _same(value, before):
            payload[key] = _dump(value)
    for key, value in obj.extra.items():
        if key not in original_extra or not _same(value, original_extra[key]):
            payload[key] = _copy_json(value)
    return payload
