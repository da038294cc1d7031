"""The fast path: one generated reading function per model type, the common case inline.

A reader builds its instance directly from a JSON object (a twin of the
model's layout filled with plain stores, then made the model: no ``__init__``,
no keyword dict, see `_twin`). Each field's value
is checked inline for the type it nearly always has (a ``str``, an ``int``, a
list of objects...) and stored as it is; any other value goes through the
field's hook (the tolerant shapes of ``_scalars``), and a value that no hook
reads raises: the caller then walks the body field by field (``_fieldwalk``)
to find every such value. A JSON object in a model-typed field is left as it
is, for the field to build on first access (``build_nested``), and the model's
``_unbuilt`` slot keeps how and where it was read; a strict read checks each
such object first (it reads it strictly and drops it), so that it raises at the call.

Each reader is generated on its first call, so that importing stays cheap and
the cycles between models (BusinessUnit -> Consumer -> BusinessUnit) need no
ordering. A reader takes ``(data, reading, where)``: ``where`` is the body's
place of the object (see ``body_path``), kept in ``_unbuilt`` so that drift
found when a nested object is built is reported with its path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any, get_args

import attrs

from .._models import EMPTY_MAPPING, Collection, Model
from .._models._base import build_on_access
from ._hooks import eager_converter
from ._keys import INTERNAL_FIELDS, model_info
from ._reading import TOLERANT, BadValue, Reading, describe
from ._scalars import OPTIONAL_SCALARS
from ._shapes import (
    NoneType,
    array_items,
    as_object,
    is_homogeneous_tuple,
    is_model,
    is_optional,
    model_origin,
    substitute,
)

__all__ = ["Reader", "Where", "body_path", "reader_for"]

#: A body's place, built only when a drift is reported: None for the body itself,
#: then (parent, attribute) or (parent, attribute, index) for a list item.
Where = tuple[Any, ...] | None
ReadFunction = Callable[[Any, Reading, Where], Any]


def body_path(where: Where) -> str:
    parts: list[str] = []
    while where is not None:
        if len(where) == 3:
            parts.append(f".{where[1]}[{where[2]}]" if where[1] else f"[{where[2]}]")
        else:
            parts.append(f".{where[1]}")
        where = where[0]
    return "$" + "".join(reversed(parts))


class Reader:
    """The reading function of one type; ``read`` is generated on its first call."""

    __slots__ = ("read", "type")

    def __init__(self, tp: Any) -> None:
        self.type = tp
        self.read: ReadFunction = self._first_read

    def _first_read(self, data: Any, reading: Reading, where: Where) -> Any:
        origin = model_origin(self.type)
        self.read = _model_reader(self.type, origin) if origin else _items_reader(self.type)
        return self.read(data, reading, where)


_READERS: dict[Any, Reader] = {}


def reader_for(tp: Any) -> Reader | None:
    """The reader of a model type, ``Collection[X]`` or ``tuple[Model, ...]``; else None."""
    reader = _READERS.get(tp)
    if reader is None:
        if tp is Collection:
            return reader_for(Collection[Any])
        if is_model(tp) or (is_homogeneous_tuple(tp) and is_model(get_args(tp)[0])):
            reader = Reader(tp)
        else:
            return None
        _READERS[tp] = reader
    return reader


# What a field's value nearly always is, per type: the inline test that it is not.
_INLINE = {
    str: "type(v) is not str and v is not None",
    int: "type(v) is not int and v is not None",
    float: "type(v) is not float and v is not None",
    bool: "v is not False and v is not True and v is not None",
    datetime: "v is not None",
}


def _slot_setter(cls: type, name: str) -> Any:
    """The setter of the slot that holds field ``name`` (under a build-on-access wrapper)."""
    for owner in cls.__mro__:
        slot = owner.__dict__.get(name)
        if slot is not None:
            return getattr(slot, "slot", slot).__set__
    raise AttributeError(f"{cls.__name__} has no slot {name!r}")


class _Source:
    """The lines of one generated function and the names its code refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self._count = itertools.count()

    def name(self, value: Any, hint: str = "n") -> str:
        name = f"_{hint}{next(self._count)}"
        self.names[name] = value
        return name

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def compile(self, function: str, filename: str) -> Any:
        text = "\n".join(self.lines) + "\n"
        code = compile(text, filename, "exec")
        namespace = dict(self.names)
        exec(code, namespace)  # noqa: S102 - our own generated source, as attrs/cattrs do
        return namespace[function]


def _model_reader(tp: Any, origin: type[Model]) -> ReadFunction:
    mapping = dict(zip(getattr(origin, "__parameters__", ()), get_args(tp), strict=False))
    info = model_info(origin)
    fields = [
        (field, substitute(field.type, mapping))
        for field in attrs.fields(origin)
        if field.name not in INTERNAL_FIELDS
    ]
    source = _Source()
    src = source.name
    twin = _twin(origin)

    def store(name: str, value: str) -> str:
        if twin is not None:
            return f"self.{name} = {value}"
        return f"{src(_slot_setter(origin, name), 's')}(self, {value})"

    source.add(
        "def read(o, reading, where):",
        "    if type(o) is not dict:",
        f"        o = {src(_shaper(origin), 'shape')}(o)",
        f"    self = {src(object.__new__, 'new')}({src(twin or origin, 'cls')})",
        "    get = o.get",
    )
    nested = any(_nested_model(ftype) for _, ftype in fields)
    if nested:
        # A strict read checks nested objects itself: they are built tolerantly later.
        source.add(f"    later = {src(TOLERANT, 'tolerant')} if reading.strict else reading")
    for field, ftype in fields:
        _field_lines(source, origin, field, info.keys[field.name], ftype)
        source.add("    " + store(field.name, "v"))
    known, empty = src(info.known, "known"), src(EMPTY_MAPPING, "empty")
    source.add(
        "    " + store("raw", "o"),
        f"    if o.keys() <= {known}:",
        "        " + store("extra", empty),
        "    else:",
        "        " + store("extra", f"{{k: x for k, x in o.items() if k not in {known}}}"),
        "    " + store("unparsed", empty),
    )
    if nested:
        source.add("    " + store("_unbuilt", "(later, where)"))
    if twin is not None:
        source.add(f"    self.__class__ = {src(origin, 'cls')}")
    source.add("    return self")
    read: ReadFunction = source.compile("read", f"<cloutility_async reader {origin.__name__}>")
    return read


def _twin(cls: type) -> type | None:
    """A class of ``cls``'s layout whose instances take plain attribute stores.

    ``cls`` is frozen: its ``__setattr__`` raises, so a reader would set each slot
    through the slot's own setter (a call each). The twin has the same bases and
    the same slots, and object's ``__setattr__``: a reader fills one with plain
    stores (which the interpreter specialises to a direct write) and then makes it
    a ``cls`` by assigning ``__class__`` (the layouts are the same, so Python
    allows it). None where that is refused (``Collection``, a ``Generic``).
    """
    namespace = {
        "__slots__": cls.__dict__.get("__slots__", ()),
        "__module__": cls.__module__,
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
    }
    try:
        twin = type(f"_Reading{cls.__name__}", cls.__bases__, namespace)
        probe: Any = object.__new__(twin)
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


def _nested_model(ftype: Any) -> Any:
    """The model type of an ``X | None`` field of a model X, else None."""
    inner = [arg for arg in get_args(ftype) if arg is not NoneType]
    if is_optional(ftype) and len(inner) == 1 and is_model(inner[0]):
        return inner[0]
    return None


def _field_lines(source: _Source, origin: type, field: Any, key: str, ftype: Any) -> None:
    """Append the lines that leave the field's value in ``v``."""
    src, add = source.name, source.add
    inner = [arg for arg in get_args(ftype) if arg is not NoneType]
    scalar = inner[0] if is_optional(ftype) and len(inner) == 1 else None
    single = _nested_model(ftype)
    elem = get_args(ftype)[0] if is_homogeneous_tuple(ftype) else None
    add(f"    v = get({key!r})")
    if scalar in _INLINE:
        hook = src(OPTIONAL_SCALARS[scalar], "h")
        add(f"    if {_INLINE[scalar]}:", f"        v = {hook}(v, None)")
    elif single is not None:
        build_on_access(origin, field.name, single)  # the field's slot may hold the dict
        nested = src(_reader_of(single), "r")
        place = f"(where, {field.name!r})"
        add(
            "    if type(v) is dict:",
            "        if later is not reading:  # strict: raise now if anything in it is bad",
            f"            {nested}.read(v, reading, {place})",
            "    elif v is not None and v != '':",
            f"        v = {nested}.read(v, reading, {place})",
            "    else:",
            "        v = None",
        )
    elif elem is not None and is_model(elem):
        items = src(_reader_of(ftype), "r")
        add(
            "    if v is None or v == []:",
            "        v = ()",
            "    else:",
            f"        v = {items}.read(v, reading, (where, {field.name!r}))",
        )
    else:
        _hooked_lines(source, key, ftype, field.default)


def _hooked_lines(source: _Source, key: str, ftype: Any, default: Any) -> None:
    """A field of another type: its value goes through the type's hook."""
    hook = source.name(eager_converter.get_structure_hook(ftype), "h")
    call = f"        v = {hook}(v, {source.name(ftype, 't')})"
    if default is None:  # an `X | None`: the hook reads null as None
        source.add("    if v is not None:", call)
    elif default == () and is_homogeneous_tuple(ftype):
        source.add("    if v is None or v == []:", "        v = ()", "    else:", call)
    else:
        default_name = source.name(default, "default")
        source.add(f"    if {key!r} in o:", call, "    else:", f"        v = {default_name}")


def _reader_of(tp: Any) -> Reader:
    reader = reader_for(tp)
    assert reader is not None
    return reader


def _shaper(origin: type) -> Callable[[Any], Any]:
    """What a reader does with a value that is not a dict: the object it stands for, or raise."""

    def shape(value: Any) -> Any:
        shaped = as_object(value, origin)
        if shaped is None:
            raise BadValue(f"expected a JSON object, got {describe(value)}")
        return shaped

    return shape


def _items_reader(tp: Any) -> ReadFunction:
    """A list of models: each item read in its place, ``(where, attribute, index)``."""
    item = _reader_of(get_args(tp)[0])

    def read_items(value: Any, reading: Reading, where: Where) -> tuple[Any, ...]:
        if type(value) is not list:
            value = array_items(value)
        parent, attr = where if where is not None else (None, "")
        read = item.read
        return tuple([read(x, reading, (parent, attr, i)) for i, x in enumerate(value)])

    return read_items
