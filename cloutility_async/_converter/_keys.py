"""JSON keys: the camelCase of the attribute names, with the few exceptions the API has.

`camel` is the SDK's one snake_case -> camelCase helper (model fields and the
extra keyword fields of create calls both go through it).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from .._models import Model

__all__ = ["INTERNAL_FIELDS", "ModelInfo", "camel", "json_keys", "model_info"]

# Where the JSON key is not the camelCase of the attribute name.
_KEY_OVERRIDES: dict[tuple[str | None, str], str] = {
    (None, "dotnet_type"): "$type",
    # The reference spells it this way.
    ("Activity", "examined_files"): "examindedFiles",
}
#: The fields of `Model` that hold the body itself, not a value of it.
INTERNAL_FIELDS = frozenset({"raw", "extra", "unparsed"})


def camel(name: str) -> str:
    """``tsm_name`` -> ``tsmName``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@attrs.frozen
class ModelInfo:
    keys: Mapping[str, str]  # attribute name -> JSON key
    known: frozenset[str]  # the JSON keys
    fields: tuple[tuple[str, str, Any], ...]  # (attribute, JSON key, default)


_INFO: dict[type, ModelInfo] = {}


def model_info(cls: type) -> ModelInfo:
    """The JSON keys of a model class's fields (``raw``, ``extra``, ``unparsed`` left out)."""
    found = _INFO.get(cls)
    if found is None:
        keys: dict[str, str] = {}
        fields = []
        for field in attrs.fields(cls):
            if field.name in INTERNAL_FIELDS:
                continue
            key = _KEY_OVERRIDES.get(
                (cls.__name__, field.name),
                _KEY_OVERRIDES.get((None, field.name), camel(field.name)),
            )
            keys[field.name] = key
            fields.append((field.name, key, field.default))
        found = _INFO[cls] = ModelInfo(
            keys=types.MappingProxyType(keys), known=frozenset(keys.values()), fields=tuple(fields)
        )
    return found


def json_keys(cls: type[Model]) -> Mapping[str, str]:
    """Map each attribute of a model class to its JSON key (``tsm_name`` -> ``tsmName``)."""
    return model_info(cls).keys
