"""Instants at the server's own precision, for the jobs interval's strict start.

The portal rejects a ``startTime`` earlier than the first job's ``completed``
and compares at .NET's precision (100 ns); ``completed`` may carry seven
fractional digits (``2024-05-20T19:06:03.0810281+02:00``), one more than a
Python datetime holds. A ``ServerInstant`` keeps every digit, so the start
sent is that same instant, never 100 ns earlier through truncation.
"""

from __future__ import annotations

import datetime as dt
import re

import attrs

__all__ = ["ServerInstant", "nanos", "parse_instant"]

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_INSTANT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})"
    r"(?:[.,](\d+))?\s*([Zz]|[+-]\d{2}:?\d{2})?"
)


@attrs.frozen
class ServerInstant:
    """An instant as the server wrote it: nanoseconds (rounded up) and UTC text."""

    nanos: int  # since the epoch; digits past the ninth round up
    text: str  # the same instant in UTC (``...Z``) with every fractional digit written


def nanos(moment: dt.datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (exact: microseconds * 1000)."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def parse_instant(text: str) -> ServerInstant | None:
    """The instant of an ISO 8601 date-time (no zone = UTC), or None if it is not one."""
    match = _INSTANT.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = dt.timedelta(0)
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        local = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=_UTC
        )
        utc = local - offset
    except (ValueError, OverflowError):
        return None
    digits = (fraction or "").rstrip("0")
    sub = int(digits[:9].ljust(9, "0")) if digits else 0
    if len(digits) > 9 and digits[9:].strip("0"):
        sub += 1  # finer than a nanosecond: round up, never earlier
    written = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if digits:
        written += "." + digits
    return ServerInstant(nanos=nanos(utc) + sub, text=written + "Z")
