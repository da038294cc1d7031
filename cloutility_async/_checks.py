"""Input checks that run before any request is sent, each raising ValidationError."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ._converter import format_datetime
from ._exceptions import ValidationError

__all__ = ["check_id", "check_name", "check_node_name", "iso_utc", "maybe_iso_utc"]

_DIGITS = re.compile(r"[1-9][0-9]{0,18}")
# The portal's ids are .NET integers: at most a signed 64-bit one, as int or as text.
MAX_ID = 2**63 - 1
# IBM Storage Protect node names: 1-64 characters of letters, digits and _ - . + &
_NODE_NAME = re.compile(r"[A-Za-z0-9_\-.+&]{1,64}")


def check_id(value: Any, what: str = "id") -> int:
    """A positive id up to ``MAX_ID`` (2**63 - 1): an int, or a string of digits (``"22"``)."""
    if type(value) is int and 0 < value <= MAX_ID:  # the common case, first: every proxy
        return value
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    if number is None or not 0 < number <= MAX_ID:
        raise ValidationError(
            f"{what} must be a positive integer of at most 2**63 - 1, got {value!r}"
        )
    return number


def check_name(value: Any, what: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string, got {value!r}")
    return value


def check_node_name(value: Any) -> str:
    """A node name valid under IBM Storage Protect's naming rules."""
    if not isinstance(value, str) or not _NODE_NAME.fullmatch(value):
        raise ValidationError(
            "tsm_name must be 1-64 characters of letters, digits and _ - . + & "
            f"(IBM Storage Protect naming rules), got {value!r}"
        )
    return value


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    """``value`` if it has a time zone: a naive datetime is refused, never guessed at."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{what} is a naive datetime ({value.isoformat()}): give it a time zone,"
            " e.g. datetime.now(timezone.utc) or .replace(tzinfo=...)"
        )
    return value


def iso_utc(value: Any, what: str = "date") -> str:
    """ISO 8601 in UTC with a ``Z`` (`format_datetime`); naive datetimes are refused."""
    if isinstance(value, dt.datetime):
        return format_datetime(_aware(value, what))
    if isinstance(value, dt.date):
        return format_datetime(value)  # midnight UTC
    raise ValidationError(f"{what} must be a datetime or a date, got {value!r}")


def maybe_iso_utc(value: Any, what: str) -> str | None:
    return None if value is None else iso_utc(value, what)


def as_utc(value: dt.datetime | dt.date, what: str = "date") -> dt.datetime:
    """The UTC datetime of an aware datetime or a date (midnight UTC); naive is refused."""
    if isinstance(value, dt.datetime):
        return _aware(value, what).astimezone(dt.timezone.utc)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)


def invoice_date(value: Any) -> str:
    """The ``YYYY-MM-DD`` of an invoice or billing date."""
    if isinstance(value, dt.datetime):
        return as_utc(value).date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise ValidationError(f"the invoice date must be a date or 'YYYY-MM-DD', got {value!r}")


def by_id(value: Any, what: str) -> dict[str, int]:
    """A related object as the server binds it, ``{"id": n}``, from a model or an id."""
    if isinstance(value, (int, str)):
        return {"id": check_id(value, what)}
    model_id = getattr(value, "id", None)
    if model_id is None:
        raise ValidationError(f"{what} must be a model with an id, or an id; got {value!r}")
    return {"id": check_id(model_id, what)}


def bool_param(value: Any, what: str = "flag") -> str:
    """A query-string boolean (``true``/``false``); only real bools are accepted."""
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be True or False, got {value!r}")
    return "true" if value else "false"
