"""Wire formats the portal uses: its three date shapes, .NET TimeSpans, time zone offsets."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta, timezone

__all__ = [
    "TIME_ZONES",
    "UTC",
    "fmt_ms",
    "fmt_s",
    "fmt_ticks",
    "fmt_timespan",
    "parse_bool",
    "parse_date",
    "parse_iso",
    "seeded_random",
    "utc_offset_minutes",
]

UTC = timezone.utc

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def seeded_random(seed: int) -> random.Random:
    """A reproducible RNG for simulated data (never used for anything secret)."""
    return random.Random(seed)  # noqa: S311


def fmt_ms(dt: datetime) -> str:
    """``2023-06-10T11:10:11.321Z``."""
    dt = dt.astimezone(UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


def fmt_s(dt: datetime) -> str:
    """``2023-06-09T00:00:00Z``."""
    dt = dt.astimezone(UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"
    )


def fmt_ticks(dt: datetime, extra_digit: int = 0, tz_id: int = 4) -> str:
    """``2024-05-20T19:06:03.0810281+02:00``: seven fractional digits, local offset."""
    offset = utc_offset_minutes(tz_id, dt)
    local = dt.astimezone(UTC) + timedelta(minutes=offset)
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset), 60)
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:"
        f"{local.minute:02d}:{local.second:02d}.{local.microsecond:06d}{extra_digit % 10}"
        f"{sign}{hours:02d}:{minutes:02d}"
    )


def fmt_timespan(seconds: int) -> str:
    """A .NET TimeSpan: ``hh:mm:ss``, or ``d.hh:mm:ss`` from one day on."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}.{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time (naive means UTC); ``ValueError`` if malformed."""
    m = _ISO_RE.match(text.strip())
    if m is None and " " in text:
        # An unencoded "+02:00" arrives as " 02:00" after form decoding.
        head, _, tail = text.strip().rpartition(" ")
        m = _ISO_RE.match(f"{head}+{tail}")
    if m is None:
        raise ValueError(f"not an ISO 8601 date: {text!r}")
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    dt = datetime(int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), micro)
    if tz is None or tz in ("Z", "z"):
        return dt.replace(tzinfo=UTC)
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return dt.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` strictly; ``ValueError`` otherwise."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    return date.fromisoformat(text)


def parse_bool(text: str) -> bool:
    """ASP.NET binds ``true``/``false`` case-insensitively (and ``1``/``0``)."""
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


# -- time zones ----------------------------------------------------------------------


def _last_sunday(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    first_sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    return first_sunday + timedelta(weeks=n - 1)


def _eu_dst(dt: datetime) -> bool:
    start = datetime.combine(_last_sunday(dt.year, 3), datetime.min.time(), UTC)
    end = datetime.combine(_last_sunday(dt.year, 10), datetime.min.time(), UTC)
    return start + timedelta(hours=1) <= dt < end + timedelta(hours=1)


def _us_dst(dt: datetime) -> bool:
    start = datetime.combine(_nth_sunday(dt.year, 3, 2), datetime.min.time(), UTC)
    end = datetime.combine(_nth_sunday(dt.year, 11, 1), datetime.min.time(), UTC)
    return start + timedelta(hours=7) <= dt < end + timedelta(hours=6)


# id -> (display name, Windows id, base offset minutes, DST rule)
TIME_ZONES: dict[int, tuple[str, str, int, str]] = {
    1: ("(UTC) Coordinated Universal Time", "UTC", 0, ""),
    2: ("(GMT) Dublin, Edinburgh, Lisbon, London", "GMT Standard Time", 0, "eu"),
    3: ("(GMT-05:00) Eastern Time (US & Canada)", "Eastern Standard Time", -300, "us"),
    4: (
        "(GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
        "W. Europe Standard Time",
        60,
        "eu",
    ),
    5: (
        "(GMT+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius",
        "FLE Standard Time",
        120,
        "eu",
    ),
    6: ("(GMT+09:00) Osaka, Sapporo, Tokyo", "Tokyo Standard Time", 540, ""),
}


def utc_offset_minutes(tz_id: int, when: datetime) -> int:
    """The UTC offset of a time zone at an instant, in minutes (DST included)."""
    _name, _wid, base, rule = TIME_ZONES[tz_id]
    when = when.astimezone(UTC)
    if (rule == "eu" and _eu_dst(when)) or (rule == "us" and _us_dst(when)):
        return base + 60
    return base
