"""The base every resource model shares: the raw JSON, its unknown keys, what was unreadable."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["EMPTY_MAPPING", "Model"]

#: Shared, read-only default for ``raw``, ``extra`` and ``unparsed`` of hand-built models.
EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})


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
