"""The base every resource model shares: the raw JSON, its unknown keys, what was unreadable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .._records import redact_text

__all__ = ["EMPTY_MAPPING", "Model", "build_on_access", "set_builder"]

#: Shared, read-only default for ``raw``, ``extra`` and ``unparsed`` of hand-built models.
EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})
_MAPPINGS = ("raw", "extra", "unparsed")


class _Unbuilt:
    """The slot of a model read with nested objects left for their fields to build.

    A plain slot, not an attrs field: it takes no part in ``__init__``, equality,
    the repr or pickling. It holds ``(reading, where)`` (how and where in the body
    the model was read) once a read has left a JSON object in a model-typed field;
    a model built by hand never has it.
    """

    __slots__ = ("_unbuilt",)


#: The ``_unbuilt`` slot itself, read by the fields that build on access.
_UNBUILT = _Unbuilt.__dict__["_unbuilt"]


@attrs.frozen(kw_only=True, repr=False)
class Model(_Unbuilt):
    """Base of all resource models: frozen, slotted, keyword-only, every field optional.

    ``raw`` is the exact JSON object the model was structured from (empty for a
    model built by hand) and ``extra`` the keys of ``raw`` that no field maps.
    ``unparsed`` maps the JSON key of each field whose value could not be read
    (an object in a string field, ``12.5`` for an integer, ...) to that value as
    received; the field itself has its default. A list field keeps the items it
    could read, and each item it could not is recorded as ``"key[index]"``.
    None of the three takes part in equality, hashing or the repr; the
    converter's ``to_payload`` starts from ``raw`` so that writes never lose data.
    ``dotnet_type`` is the server's ``$type`` annotation, when it sends one.

    The repr lists only the fields that are set (not None, not empty), and
    never secrets, ``raw``, ``extra`` or ``unparsed``; a signed link's credential
    (``?access_token=``) reads ``REDACTED`` wherever a field's value holds it (the
    value itself is kept).

    Models pickle (and ``copy.deepcopy``) to equal models with the same
    ``raw``, ``extra`` and ``unparsed``; `to_dict` and `to_json` give the JSON.
    """

    dotnet_type: str | None = attrs.field(default=None, repr=False)
    raw: Mapping[str, Any] = attrs.field(default=EMPTY_MAPPING, eq=False, repr=False, hash=False)
    extra: Mapping[str, Any] = attrs.field(default=EMPTY_MAPPING, eq=False, repr=False, hash=False)
    unparsed: Mapping[str, Any] = attrs.field(
        default=EMPTY_MAPPING, eq=False, repr=False, hash=False
    )

    def __repr__(self) -> str:
        parts = []
        for field in attrs.fields(type(self)):
            if not field.repr:
                continue
            value = getattr(self, field.name)
            if value is None or value == ():
                continue
            text = repr(value)
            if not isinstance(value, Model):  # a nested model's own repr has redacted it
                # A signed href's credentials, as the log records show them: in a text, and
                # in plain JSON kept as it came (a list or an object), a tuple of texts.
                text = redact_text(text)
            parts.append(f"{field.name}={text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """The model as the JSON object a PUT of it sends, ready for ``json.dumps``.

        That is the JSON the server sent (``raw``: every key, unknown and
        unreadable ones included, in its original form) with the fields you
        changed (``attrs.evolve``) overlaid, dates as ISO 8601 UTC and durations
        as .NET TimeSpans. A model built by hand gives only its set fields. A
        new ``dict`` each call: changing it changes nothing in the model.
        """
        from .._converter import to_payload  # the converter imports the models

        return to_payload(self)

    def to_json(self, *, indent: int | None = None) -> str:
        """`to_dict` as JSON text (compact unless ``indent`` is given; UTF-8, not escaped)."""
        separators = (",", ":") if indent is None else None
        return json.dumps(self.to_dict(), indent=indent, separators=separators, ensure_ascii=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # A read-only mapping proxy cannot be pickled: the state holds plain dicts.
        state = {}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            state[field.name] = dict(value) if type(value) is MappingProxyType else value
        return _rebuild, (type(self), state)


def _rebuild(cls: type[Model], state: dict[str, Any]) -> Model:
    """A model from its pickled state, as the converter builds one (no ``__init__``)."""
    obj = object.__new__(cls)
    set_attribute = object.__setattr__
    for field in attrs.fields(cls):
        value = state.get(field.name, field.default)
        if field.name in _MAPPINGS:
            if not value:
                value = EMPTY_MAPPING
            elif field.name == "unparsed":
                value = MappingProxyType(value)
        set_attribute(obj, field.name, value)
    return obj


_builder: Any = None


def set_builder(builder: Any) -> None:
    """Register the function that builds a nested object: ``(data, type, unbuilt, attr)``."""
    global _builder
    _builder = builder


class _BuildOnAccess:
    """A model-typed field's slot: a JSON object left in it is built on first read and kept.

    The converter leaves a nested object of a read body as it is (the ``dict``) in
    the field's slot, and the owner's ``_unbuilt`` slot says how it was read; the
    first read of the field builds the model with the builder the converter
    registered (`set_builder`) and stores it, so nobody ever sees the ``dict``.
    Nothing per nested object is allocated until then: a bulk run keeps many.
    """

    __slots__ = ("name", "slot", "type")

    def __init__(self, slot: Any, tp: Any, name: str) -> None:
        self.slot = slot
        self.type = tp
        self.name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.slot
        value = self.slot.__get__(obj, owner)
        if type(value) is dict:
            try:
                unbuilt = _UNBUILT.__get__(obj, owner)
            except AttributeError:  # built by hand: a dict it was given
                return value
            value = _builder(value, self.type, unbuilt, self.name)
            self.slot.__set__(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.slot.__delete__(obj)


def build_on_access(cls: type[Model], name: str, tp: Any) -> None:
    """Let field ``name`` (of model type ``tp``) of ``cls`` be built on first read (once)."""
    for owner in cls.__mro__:
        slot = owner.__dict__.get(name)
        if slot is not None:
            if not isinstance(slot, _BuildOnAccess):
                setattr(owner, name, _BuildOnAccess(slot, tp, name))
            return
    raise AttributeError(f"{cls.__name__} has no slot {name!r}")
