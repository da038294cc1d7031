"""Models back to JSON: the lossless body of a PUT, and the model's own view."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from .._models import EMPTY_MAPPING, Model
from ._dates import format_datetime, format_timespan
from ._hooks import eager_converter
from ._keys import model_info
from ._reading import TOLERANT
from ._structure import read

__all__ = ["json_value", "to_payload", "unstructure"]


def unstructure(obj: Model) -> dict[str, Any]:
    """The model's own fields as camelCase JSON, leaving out ``None`` and empty fields.

    ``raw`` and ``extra`` are not included: for a request body use `to_payload`.
    """
    result: dict[str, Any] = eager_converter.unstructure(obj)
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


def json_value(value: Any) -> Any:
    """JSON of a value: models via `to_payload`, dates and TimeSpans as the API writes them."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, Model):
        return to_payload(value)
    if isinstance(value, (tuple, list)):
        return [json_value(item) for item in value]
    if isinstance(value, (datetime, date)):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {key: json_value(item) for key, item in value.items()}
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
    info = model_info(cls)
    raw = obj.raw
    payload: dict[str, Any]
    if raw:
        original = read(raw, cls, TOLERANT, cls.__name__)
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
            payload[key] = json_value(value)
    for key, value in obj.extra.items():
        if key not in original_extra or not _same(value, original_extra[key]):
            payload[key] = _copy_json(value)
    return payload
