"""The base every resource model shares: the raw JSON, its unknown keys, what was unreadable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["EMPTY_MAPPING", "Model", "Pending", "build_on_access", "set_builder"]

#: Shared, read-only default for ``raw``, ``extra`` and ``unparsed`` of hand-built models.
EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})
_MAPPINGS = ("raw", "extra", "unparsed")


@attrs.frozen(kw_only=True, repr=False)
class Model:
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
    never secrets, ``raw``, ``extra`` or ``unparsed``.

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
            parts.append(f"{field.name}={value!r}")
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


class Pending:
    """A nested model that is not built yet; it is built on first access.

    The converter leaves one in a model-typed field of a tolerantly read model
    (an object of the body, kept as is); the field's descriptor (see
    `build_on_access`) builds it the first time the field is read, with the
    builder the converter registered (`set_builder`), and keeps the result, so
    nobody ever sees a `Pending`. Small on purpose: a bulk run keeps many.
    """

    __slots__ = ("attr", "data", "parent", "reading", "type")

    def __init__(self, data: Any, type: Any, reading: Any, parent: Any, attr: str) -> None:
        self.data = data
        self.type = type
        self.reading = reading
        self.parent = parent  # where in the body the owner is
        self.attr = attr


_builder: Any = None


def set_builder(builder: Any) -> None:
    """Register the function that turns a `Pending` into its model."""
    global _builder
    _builder = builder


class _BuildOnAccess:
    """A field's slot that builds a `Pending` value on first read and stores the model."""

    __slots__ = ("slot",)

    def __init__(self, slot: Any) -> None:
        self.slot = slot

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.slot
        value = self.slot.__get__(obj, owner)
        if type(value) is Pending:
            value = _builder(value)
            self.slot.__set__(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.slot.__delete__(obj)


def build_on_access(cls: type[Model], name: str) -> None:
    """Let field ``name`` of ``cls`` hold a `Pending` (once per class and field)."""
    for owner in cls.__mro__:
        slot = owner.__dict__.get(name)
        if slot is not None:
            if not isinstance(slot, _BuildOnAccess):
                setattr(owner, name, _BuildOnAccess(slot))
            return
    raise AttributeError(f"{cls.__name__} has no slot {name!r}")
