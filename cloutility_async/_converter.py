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

The fast path is all-or-nothing cattrs code, as generated for the classes; only
when it fails does a slower field-by-field walk run, so well-formed bodies pay
nothing for the tolerance. A tolerant read leaves each nested object (a JSON
object in a model-typed field) unbuilt until its field is first read, and
reports that object's drift then; a strict read builds everything at the call,
so that it raises there.

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

import contextvars
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
from cattrs.errors import StructureHandlerNotFoundError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._drift import SchemaDrift, json_type
from ._models import ALL_MODELS, EMPTY_MAPPING, AuditLogType, Collection, Lookup, Model
from ._models._base import Pending, build_on_access, set_builder

__all__ = [
    "STRICT",
    "TOLERANT",
    "ConversionError",
    "Reading",
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
_INTERNAL_FIELDS = frozenset({"raw", "extra", "unparsed"})


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
    zone (or without a time) is taken as UTC. An instant that Python cannot hold
    in UTC (``0001-01-01T00:00:00+02:00``, ``9999-12-31T23:59:59-05:00``) becomes
    ``datetime.min`` or ``datetime.max`` in UTC, so that ``astimezone(UTC)``,
    comparisons and `format_datetime` never overflow. Raises ``ValueError``.
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
    if parsed.year == 1 or parsed.year == 9999:
        return _in_utc_range(parsed)
    return parsed


_MIN_UTC = datetime.min.replace(tzinfo=_UTC)
_MAX_UTC = datetime.max.replace(tzinfo=_UTC)


def _in_utc_range(moment: datetime) -> datetime:
    """``moment``, or the nearest end of the range if its instant is outside it in UTC.

    Only the first and the last day of the range can fall outside (an offset is
    at most a day): .NET's ``DateTime.MinValue`` with a positive offset
    (``0001-01-01T00:00:00+02:00``), ``MaxValue`` with a negative one.
    """
    try:
        moment.astimezone(_UTC)
    except OverflowError:
        return _MIN_UTC if moment.year == 1 else _MAX_UTC
    return moment


def _no_date(moment: datetime) -> bool:
    """Whether ``moment`` is .NET's default date (``0001-01-01T00:00:00``, any zone), or earlier.

    An unset .NET ``DateTime`` is written as its ``MinValue``: it means "no
    date", as a missing key or ``null`` does, and a field reads it as ``None``
    (``raw`` keeps the text, so a PUT sends it back as received).
    """
    return moment.year == 1 and moment.replace(tzinfo=None) == datetime.min


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
        value = _in_utc_range(value).astimezone(_UTC)
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
        return _in_utc_range(value if value.tzinfo is not None else value.replace(tzinfo=_UTC))
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=_UTC)
    raise _BadValue(f"expected an ISO 8601 date, got {_describe(value)}")


def _seconds(value: float) -> timedelta:
    try:
        return timedelta(seconds=value)
    except (ValueError, OverflowError):
        raise _BadValue(f"expected a TimeSpan or seconds, got {_describe(value)}") from None


def _to_timedelta(value: Any) -> timedelta:
    if isinstance(value, str):
        try:
            return parse_timespan(value)
        except _BadValue:
            try:
                seconds = float(value.strip())
            except ValueError:
                raise _BadValue(
                    f"expected a TimeSpan like 'd.hh:mm:ss', got {_describe(value)}"
                ) from None
            return _seconds(seconds)
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _seconds(value)  # a number of seconds means the same span
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
    moment = _to_datetime(value)
    return None if moment.year == 1 and _no_date(moment) else moment


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
    return _opt_datetime(value, None)


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
    if _is_union(tp):
        return " | ".join("None" if a is _NoneType else _type_name(a) for a in get_args(tp))
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
            if value is None or value == "":
                return None
            return handler(value, inner)

        return structure_optional
    if set(args) == {datetime, bool}:
        return _opt_datetime_or_bool
    raise StructureHandlerNotFoundError(f"no structure hook for {tp!r}", tp)


def _as_array(value: Any) -> Any:
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


def _as_object(value: Any, origin: type) -> Mapping[str, Any] | None:
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


def _structure_tuple_factory(tp: Any, converter: cattrs.Converter) -> _Hook:
    elem = get_args(tp)[0]
    handler = None if elem is Any else converter.get_structure_hook(elem)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            if value is None or value == "":
                return ()
            items = _as_array(value)
            if items is None:
                raise _BadValue(f"expected a JSON array, got {_describe(value)}")
            value = items
        if handler is None:
            return tuple(value)
        return tuple([handler(item, elem) for item in value])

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
    binding and importing stays cheap. The hooks are all-or-nothing: the first
    value they cannot read raises, and `structure` then walks the body field by
    field (`_read_model`) to find every such value.
    """

    def __init__(self, converter: cattrs.Converter, *, lazy: bool = False) -> None:
        self.converter = converter
        self.lazy = lazy
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
        overrides: dict[str, Any] = {name: override(omit=True) for name in _INTERNAL_FIELDS}
        overrides.update({name: override(rename=key) for name, key in info.keys.items()})
        converter = self.converter
        set_attribute = object.__setattr__
        built: Callable[[Mapping[str, Any]], Any] | None = None

        def build() -> Callable[[Mapping[str, Any]], Any]:
            nonlocal built
            if built is None:
                if self.lazy:  # here, not above: the models' cycles need the hooks first
                    overrides.update(self._lazy_overrides(tp, origin, info))
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
                shaped = _as_object(data, origin)
                if shaped is None:
                    raise _BadValue(f"expected a JSON object, got {_describe(data)}")
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

    def _lazy_overrides(self, tp: Any, origin: type[Model], info: _ModelInfo) -> dict[str, Any]:
        """Hooks that leave nested objects unbuilt and keep track of where list items are."""
        mapping = dict(zip(getattr(origin, "__parameters__", ()), get_args(tp), strict=False))
        overrides: dict[str, Any] = {}
        for field in attrs.fields(origin):
            if field.name in _INTERNAL_FIELDS:
                continue
            ftype = _substitute(field.type, mapping)
            inner = [arg for arg in get_args(ftype) if arg is not _NoneType]
            if _is_optional(ftype) and len(inner) == 1 and _is_model(inner[0]):
                build_on_access(origin, field.name)
                hook = _pending_hook(field.name, inner[0], self.get(inner[0], none_ok=True))
            elif _is_homogeneous_tuple(ftype) and _is_model(get_args(ftype)[0]):
                hook = _items_hook(field.name, get_args(ftype)[0], self.converter)
            else:
                continue
            overrides[field.name] = override(rename=info.keys[field.name], struct_hook=hook)
        return overrides


def _unstructure_model_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    origin = _model_origin(tp)
    assert origin is not None
    overrides: dict[str, Any] = {name: override(omit=True) for name in _INTERNAL_FIELDS}
    overrides.update({name: override(rename=key) for name, key in _info(origin).keys.items()})
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


# --- tolerant reads build nested objects on first access ---------------------------------
#
# A tolerant read leaves each nested object of the body (a dict in a model-typed
# field) as a `Pending` that the field builds when it is first read: a bulk run
# that reads a consumer's name never builds its business unit, time zone and
# lookups. What the object holds is decided only then: drift in it is recorded in
# its own ``unparsed`` and reported to the reading's callback when it is built
# (the parent's ``unparsed`` never depends on it: a JSON object in a model field
# always reads as a model). Strict reads stay eager, so that drift anywhere raises
# at the call, not at an attribute access later.

#: A body's place, built only when a drift is reported: None for the body itself,
#: then (parent, attribute) or (parent, attribute, index) for a list item.
_Where = tuple[Any, ...] | None


class _Context:
    """The tolerant read under way: its reading, and where in the body it is."""

    __slots__ = ("reading", "where")

    def __init__(self, reading: Reading, where: _Where) -> None:
        self.reading = reading
        self.where = where


def _path(where: _Where) -> str:
    parts: list[str] = []
    while where is not None:
        if len(where) == 3:
            parts.append(f".{where[1]}[{where[2]}]" if where[1] else f"[{where[2]}]")
        else:
            parts.append(f".{where[1]}")
        where = where[0]
    return "$" + "".join(reversed(parts))


def _pending_hook(attr: str, tp: Any, shaped: _Hook) -> _Hook:
    """A nested model field's hook: an object is left as a `Pending`; other shapes are read."""

    def pending_or_read(value: Any, _: Any) -> Any:
        if type(value) is dict:
            context = _CONTEXT.get()
            return Pending(value, tp, context.reading, context.where, attr)
        return shaped(value, tp)  # null, "", a bare name for a lookup, or raises

    return pending_or_read


def _items_hook(attr: str, elem: Any, converter: cattrs.Converter) -> _Hook:
    """A list of models' hook that keeps track of each item's place, for its nested objects."""
    handler = converter.get_structure_hook(elem)

    def structure_items(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            if value is None or value == "":
                return ()
            items = _as_array(value)
            if items is None:
                raise _BadValue(f"expected a JSON array, got {_describe(value)}")
            value = items
        context = _CONTEXT.get()
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


def _build_pending(pending: Pending) -> Any:
    """Build a nested object left by a tolerant read, reporting its drift now."""
    data, tp, reading = pending.data, pending.type, pending.reading
    where = (pending.parent, pending.attr)
    token = _CONTEXT.set(_Context(reading, where))
    try:
        try:
            return _lazy_converter.structure(data, tp)
        except Exception:  # drift in this object: read it field by field
            walk = _Walk()
            obj = _read_model(data, tp, walk, _path(where))
        if reading.report is not None:
            for drift, _ in walk.problems:
                reading.report(drift)
        return obj
    finally:
        _CONTEXT.reset(token)


def _make_converter(*, lazy: bool = False) -> tuple[cattrs.Converter, _ModelHooks]:
    converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    model_hooks = _ModelHooks(converter, lazy=lazy)
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
#: The converter of tolerant reads: the same, but nested objects are built on access.
_lazy_converter, _lazy_hooks = _make_converter(lazy=True)
set_builder(_build_pending)


# --- the slow path: field by field, only after the fast path failed -----------------------


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

#: Set by every tolerant read (and nested build) for the hooks it runs.
_CONTEXT: contextvars.ContextVar[_Context] = contextvars.ContextVar("cloutility_reading")


@attrs.frozen
class _Field:
    """What the walk needs of one field: its names, its type and how to read it."""

    attr: str
    key: str
    type: Any
    hook: _Hook
    model: Any  # the model type when the field holds one model, else None
    elem: Any  # the element type of a tuple field, else None
    elem_model: Any  # ``elem`` when it is a model type, else None
    secret: bool  # left out of the repr: its value is never shown in an error


@attrs.frozen
class _Plan:
    """A model type's fields as the walk reads them (``Collection[X]`` has its own)."""

    cls: type
    name: str
    known: frozenset[str]
    fields: tuple[_Field, ...]


_PLANS: dict[Any, _Plan] = {}


def _substitute(tp: Any, mapping: Mapping[Any, Any]) -> Any:
    if isinstance(tp, TypeVar):
        return mapping.get(tp, Any)
    params = getattr(tp, "__parameters__", ())
    if params:
        return tp[tuple(mapping.get(p, Any) for p in params)]
    return tp


def _plan(tp: Any) -> _Plan:
    plan = _PLANS.get(tp)
    if plan is None:
        origin = _model_origin(tp)
        assert origin is not None
        mapping = dict(zip(getattr(origin, "__parameters__", ()), get_args(tp), strict=False))
        info = _info(origin)
        fields = []
        for field in attrs.fields(origin):
            if field.name in _INTERNAL_FIELDS:
                continue
            ftype = _substitute(field.type, mapping)
            inner = [arg for arg in get_args(ftype) if arg is not _NoneType]
            model = inner[0] if _is_optional(ftype) and len(inner) == 1 else ftype
            elem = get_args(ftype)[0] if _is_homogeneous_tuple(ftype) else None
            fields.append(
                _Field(
                    attr=field.name,
                    key=info.keys[field.name],
                    type=ftype,
                    hook=_converter.get_structure_hook(ftype),
                    model=model if _is_model(model) else None,
                    elem=elem,
                    elem_model=elem if elem is not None and _is_model(elem) else None,
                    secret=not field.repr,
                )
            )
        plan = _PLANS[tp] = _Plan(
            cls=origin, name=_type_name(tp), known=info.known, fields=tuple(fields)
        )
    return plan


class _Walk:
    """One slow-path read: every value that could not be read, in body order."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[tuple[SchemaDrift, str]] = []  # the drift, the error message

    def unreadable(
        self, owner: str, field: _Field | None, key: str, value: Any, error: Exception, path: str
    ) -> None:
        expected = _type_name(field.type if field is not None else Any)
        if field is not None and field.secret:
            message = f"expected {expected}, got a JSON {json_type(value)} (value hidden)"
        elif isinstance(error, _BadValue):
            message = str(error)
        else:
            message = f"expected {expected}, got {_describe(value)}"
        drift = SchemaDrift(
            model=owner,
            field=field.attr if field is not None else "",
            key=key,
            json_type=json_type(value),
            expected=expected,
            path=path,
        )
        self.problems.append((drift, message))


def _read_model(data: Mapping[str, Any], tp: Any, walk: _Walk, path: str) -> Any:
    """Read ``data`` into model type ``tp`` field by field, recording what cannot be read."""
    plan = _plan(tp)
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
            shaped = _as_object(value, _model_origin(field.model) or object)
            if shaped is not None:
                values[field.attr] = _read_model(shaped, field.model, walk, where)
                continue
        elif field.elem is not None:
            items = _as_array(value)
            if items is not None:
                values[field.attr] = _read_items(items, field, plan.name, unparsed, walk, where)
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


def _read_items(
    items: Sequence[Any],
    field: _Field,
    owner: str,
    unparsed: dict[str, Any],
    walk: _Walk,
    path: str,
) -> tuple[Any, ...]:
    """Every item of a list field that can be read; the others go to ``unparsed``."""
    elem = field.elem
    hook = _converter.get_structure_hook(elem)
    origin = _model_origin(field.elem_model) if field.elem_model is not None else None
    read = []
    for index, item in enumerate(items):
        try:
            read.append(hook(item, elem))
            continue
        except Exception as exc:
            error = exc
        where = f"{path}[{index}]"
        shaped = None if origin is None else _as_object(item, origin)
        if shaped is not None:
            read.append(_read_model(shaped, field.elem_model, walk, where))
            continue
        key = f"{field.key}[{index}]"
        unparsed[key] = item
        walk.unreadable(owner, field, key, item, error, where)
    return tuple(read)


def _read_top(data: Any, cls: Any, walk: _Walk, name: str, error: Exception) -> Any:
    """The slow read of a whole body; a body that is not even of the right kind raises."""
    origin = _model_origin(cls)
    if origin is not None:
        shaped = _as_object(data, origin)
        if shaped is not None:
            return _read_model(shaped, Collection[Any] if cls is Collection else cls, walk, "$")
    elif _is_homogeneous_tuple(cls):
        items = [] if data is None else _as_array(data)
        if items is not None:
            elem = get_args(cls)[0]
            field = _Field(
                attr="",
                key="",
                type=cls,
                hook=_converter.get_structure_hook(cls),
                model=None,
                elem=elem,
                elem_model=elem if _is_model(elem) else None,
                secret=False,
            )
            return _read_items(items, field, name, {}, walk, "$")
    message = str(error) if isinstance(error, _BadValue) else f"cannot read {_describe(data)}"
    raise ConversionError(name, [f"{message} @ $"])


# --- the internal API --------------------------------------------------------------------


def structure(data: Any, cls: type[T], reading: Reading = STRICT) -> T:
    """Convert decoded JSON into ``cls`` (a model, ``Collection[X]``, ``tuple[X, ...]``, ...).

    Tolerant as described in the module docstring; ``reading`` says what happens
    to a value that still cannot be read. A body that is not even of the kind
    ``cls`` needs (a string for a model) raises `ConversionError` either way.
    """
    result: T = _structure(data, cls, reading, None)
    return result


def _structure(data: Any, cls: Any, reading: Reading, name: str | None) -> Any:
    try:
        if reading.strict:
            return _converter.structure(data, cls)
        token = _CONTEXT.set(_Context(reading, None))
        try:
            return _lazy_converter.structure(data, cls)
        finally:
            _CONTEXT.reset(token)
    except StructureHandlerNotFoundError:
        name = name or _type_name(cls)
        raise TypeError(f"cannot structure into {name}: unsupported type") from None
    except Exception as exc:
        error = exc
    name = name or _type_name(cls)
    walk = _Walk()
    result = _read_top(data, cls, walk, name, error)
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
    items: tuple[T, ...] = _structure(data, cls_tuple, reading, f"list[{_type_name(cls)}]")
    return list(items)


def structure_collection(data: Any, item_cls: type[T], reading: Reading = STRICT) -> Collection[T]:
    """Convert a list body ``{href, total, offset, first, items}`` into a `Collection`.

    A bare JSON array is accepted as the items of a collection (``raw`` is then
    ``{"items": [...]}``). Tolerant: an item that cannot be read at all is
    recorded in the collection's ``unparsed`` as ``"items[index]"``.
    """
    if isinstance(data, list):
        data = {"items": data}
    tp = cast(Any, Collection)[item_cls]
    collection: Collection[T] = _structure(data, tp, reading, None)
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
    built by hand (empty ``raw``) gives only its non-default fields. A field
    that could not be read (see ``unparsed``) is sent back as received unless
    it was changed; a list field that is changed is sent as it now is, without
    the items that could not be read.
    """
    cls = type(obj)
    info = _info(cls)
    raw = obj.raw
    payload: dict[str, Any]
    if raw:
        original = _structure(raw, cls, TOLERANT, cls.__name__)
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
