"""Structure hooks of the scalar types: numbers, booleans, strings, dates and durations.

Each accepts every shape that clearly means its type (``"12"`` for 12,
``"true"``/``1`` for True, a number of seconds for a TimeSpan) and raises
`BadValue` for anything else: conversion is never lossy. The ``X | None``
hooks run for almost every field, so the common case comes first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from ._dates import _FAST_ISO, UTC, in_utc_range, no_date, parse_datetime, parse_timespan
from ._reading import BadValue, describe

__all__ = [
    "OPTIONAL_SCALARS",
    "Hook",
    "opt_datetime_or_bool",
    "to_bool",
    "to_datetime",
    "to_float",
    "to_int",
    "to_str",
    "to_timedelta",
]

_fromisoformat = datetime.fromisoformat

#: A cattrs structure hook: (value, type) -> the structured value.
Hook = Callable[[Any, Any], Any]


def to_int(value: Any) -> int:
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
    raise BadValue(f"expected an integer, got {describe(value)}")


def to_float(value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise BadValue(f"expected a number, got {describe(value)}")


_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def to_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        flag = _BOOL_TEXT.get(value.strip().lower())
        if flag is not None:
            return flag
    raise BadValue(f"expected a boolean, got {describe(value)}")


def to_str(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadValue(f"expected a string, got {describe(value)}")


def to_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        return parse_datetime(value)
    if isinstance(value, datetime):
        return in_utc_range(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise BadValue(f"expected an ISO 8601 date, got {describe(value)}")


def _seconds(value: float) -> timedelta:
    try:
        return timedelta(seconds=value)
    except (ValueError, OverflowError):
        raise BadValue(f"expected a TimeSpan or seconds, got {describe(value)}") from None


def to_timedelta(value: Any) -> timedelta:
    if isinstance(value, str):
        try:
            return parse_timespan(value)
        except BadValue:
            try:
                seconds = float(value.strip())
            except ValueError:
                raise BadValue(
                    f"expected a TimeSpan like 'd.hh:mm:ss', got {describe(value)}"
                ) from None
            return _seconds(seconds)
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _seconds(value)  # a number of seconds means the same span
    raise BadValue(f"expected a TimeSpan like 'd.hh:mm:ss', got {describe(value)}")


# The hooks for `X | None`, with the common case first: they run for every field.


def _opt_str(value: Any, _: Any) -> str | None:
    if type(value) is str or value is None:
        return value
    return to_str(value)


def _opt_int(value: Any, _: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or value == "":
        return None
    return to_int(value)


def _opt_float(value: Any, _: Any) -> float | None:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if value is None or value == "":
        return None
    return to_float(value)


def _opt_bool(value: Any, _: Any) -> bool | None:
    if value is True or value is False or value is None:
        return value
    if value == "":
        return None
    return to_bool(value)


def _opt_datetime(value: Any, _: Any) -> datetime | None:
    if type(value) is str and _FAST_ISO:
        # The common case in one call: an aware date-time well inside Python's range.
        try:
            moment = _fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None and 1 < moment.year < 9999:
                return moment
    if value is None or value == "":
        return None
    moment = to_datetime(value)
    return None if moment.year == 1 and no_date(moment) else moment


def _opt_timedelta(value: Any, _: Any) -> timedelta | None:
    if value is None or value == "":
        return None
    return to_timedelta(value)


def opt_datetime_or_bool(value: Any, _: Any) -> datetime | bool | None:
    if value is None or value == "":
        return None
    if value is True or value is False:
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return to_bool(value)
    return _opt_datetime(value, None)


OPTIONAL_SCALARS: dict[Any, Hook] = {
    str: _opt_str,
    int: _opt_int,
    float: _opt_float,
    bool: _opt_bool,
    datetime: _opt_datetime,
    timedelta: _opt_timedelta,
}
