"""Dates and .NET TimeSpans as the API writes them, read leniently and written one way.

The one UTC date formatter of the SDK is `format_datetime`: request bodies,
query parameters and stored tokens all write dates with it.
"""

from __future__ import annotations

import re
import sys
from datetime import date, datetime, timedelta, timezone

from ._reading import BadValue, describe

__all__ = [
    "UTC",
    "format_datetime",
    "format_timespan",
    "in_utc_range",
    "no_date",
    "parse_datetime",
    "parse_timespan",
]

UTC = timezone.utc
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
            raise BadValue(f"expected an ISO 8601 date, got {describe(value)}")
        year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        tz = UTC
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
            raise BadValue(f"expected an ISO 8601 date, got {describe(value)}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year == 1 or parsed.year == 9999:
        return in_utc_range(parsed)
    return parsed


_MIN_UTC = datetime.min.replace(tzinfo=UTC)
_MAX_UTC = datetime.max.replace(tzinfo=UTC)


def in_utc_range(moment: datetime) -> datetime:
    """``moment``, or the nearest end of the range if its instant is outside it in UTC.

    Only the first and the last day of the range can fall outside (an offset is
    at most a day): .NET's ``DateTime.MinValue`` with a positive offset
    (``0001-01-01T00:00:00+02:00``), ``MaxValue`` with a negative one.
    """
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return _MIN_UTC if moment.year == 1 else _MAX_UTC
    return moment


def no_date(moment: datetime) -> bool:
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
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = in_utc_range(value).astimezone(UTC)
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
        raise BadValue(f"expected a TimeSpan like 'd.hh:mm:ss', got {describe(value)}")
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
