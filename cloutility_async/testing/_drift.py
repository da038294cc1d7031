"""Drift mode: the deviations the vendor's pages warn about, applied to rendered JSON.

The simulator normally sends exactly the shapes the reference documents.  With drift
on, every successful JSON answer to a GET passes through :meth:`Drift.apply`, which
returns a changed copy (the world's records are never touched):

* ``first_job``: ``jobs/first`` answers bogus values everywhere but ``completed``,
  as the reference warns: ``0``, ``0.0`` or ``""`` whatever the field's type, ``""``
  in object-typed fields such as ``status``, ``[]`` for lists and
  ``0001-01-01T00:00:00`` for dates;
* ``bare_name``: a lookup ``{"id": 3, "name": "Active"}`` arrives as ``"Active"``;
* ``numeric_string``: a number arrives as a string (``"512.5"``);
* ``collection_object``: an array arrives as a collection ``{href, total, items}``;
* ``missing_field``: a field is left out ("if a field has not been defined yet, it
  will simply not be a part of the retrieved object");
* ``seven_digit_date``: a date arrives in the portal's local form with seven
  fractional digits and an offset (``2024-05-20T21:06:03.0810000+02:00``, the same
  instant);
* ``dotnet_default_date``: a date arrives as .NET's ``DateTime`` default,
  ``0001-01-01T00:00:00``.

Each field is drifted with probability ``rate``.  The draws come from an RNG seeded by
the drift seed and the request (method, path and query), so the same request always
gets the same answer, whatever order concurrent requests arrive in.  Links and
identities (``href``, ``id``, ``$type``, ``actions``, a listing's envelope) keep their
meaning, so a client can still walk the portal; on ``jobs/first`` only ``href`` and
the instant of ``completed`` are real.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ._formats import fmt_ticks, parse_iso, seeded_random

__all__ = ["DOTNET_DEFAULT_DATE", "DRIFT_KINDS", "Drift"]

DRIFT_KINDS = (
    "first_job",
    "bare_name",
    "numeric_string",
    "collection_object",
    "missing_field",
    "seven_digit_date",
    "dotnet_default_date",
)
DOTNET_DEFAULT_DATE = "0001-01-01T00:00:00"

# Never drifted: what a client needs to follow links and tell records apart.
_PROTECTED = frozenset({"href", "id", "$type", "actions"})
_LISTING_KEYS = frozenset({"href", "total", "offset", "first", "items"})
_LOOKUP_KEYS = frozenset({"id", "name", "createdDate"})
# The portal's UTC date shapes (milliseconds or whole seconds, ``Z``).
_UTC_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
# Object-typed fields of a Job that ``jobs/first`` answers as empty strings.
_FIRST_JOB_OBJECTS = ("type", "status", "dataSourceType", "dataSourceState", "serverType")
_FIRST_JOB_DATES = ("scheduledStart", "actualStart")


class Drift:
    """Seeded deviations for the simulator's answers (``Simulator.drift``).

    ``enabled`` and ``rate`` may be changed while the simulator runs; ``kinds`` picks
    which deviations happen (default: all of :data:`DRIFT_KINDS`); ``counts`` says how
    many of each were sent.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        seed: int = 0,
        rate: float = 0.05,
        kinds: Iterable[str] = DRIFT_KINDS,
    ) -> None:
        chosen = tuple(kinds)
        unknown = sorted(set(chosen) - set(DRIFT_KINDS))
        if unknown:
            raise ValueError(f"unknown drift kinds {unknown}; known: {list(DRIFT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        self.enabled = enabled
        self.seed = seed
        self.rate = rate
        self.kinds = frozenset(chosen)
        self.counts: Counter[str] = Counter()

    def apply(self, method: str, template: str, target: str, payload: Any) -> Any:
        """A drifted copy of ``payload``, the answer to ``method target`` (``target``:
        path and query relative to ``/v1``) on the route ``template``."""
        rng = self._rng(method, target)
        if _is_first_job(template, payload) and "first_job" in self.kinds:
            self.counts["first_job"] += 1
            return _bogus_first_job(rng, payload)
        if isinstance(payload, dict) and payload.keys() >= _LISTING_KEYS:
            out = dict(payload)
            out["items"] = [self._value(rng, item) for item in payload["items"]]
            return out
        return self._value(rng, payload)

    def _rng(self, method: str, target: str) -> random.Random:
        digest = hashlib.blake2b(f"{self.seed}\0{method}\0{target}".encode(), digest_size=8)
        return seeded_random(int.from_bytes(digest.digest(), "big"))

    def _value(self, rng: random.Random, value: Any) -> Any:
        if isinstance(value, dict):
            return self._object(rng, value)
        if isinstance(value, list):
            return [self._value(rng, item) for item in value]
        return value

    def _object(self, rng: random.Random, obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        protected = _PROTECTED | _LISTING_KEYS if _is_collection(obj) else _PROTECTED
        for key, value in obj.items():
            if key in protected or rng.random() >= self.rate:
                out[key] = self._value(rng, value)
                continue
            kinds = [k for k in _APPLICABLE if k in self.kinds and _APPLICABLE[k](key, value)]
            if not kinds:
                out[key] = self._value(rng, value)
                continue
            kind = kinds[rng.randrange(len(kinds))]
            self.counts[kind] += 1
            if kind != "missing_field":
                out[key] = _TRANSFORMS[kind](obj, key, value)
        return out

    def __repr__(self) -> str:
        return (
            f"Drift(enabled={self.enabled}, seed={self.seed}, rate={self.rate}, "
            f"kinds={sorted(self.kinds)})"
        )


# -- the deviations ------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_collection(obj: dict[str, Any]) -> bool:
    """An embedded collection ``{"$type", href, total, items}``: its envelope stays."""
    return "items" in obj and "total" in obj


def _is_lookup(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("name"), str)
        and "id" in value
        and value.keys() <= _LOOKUP_KEYS
    )


def _is_utc_date(value: Any) -> bool:
    return isinstance(value, str) and _UTC_DATE_RE.fullmatch(value) is not None


def _seven_digits(text: str) -> str:
    """The same instant in the portal's local form (W. Europe time, seven digits)."""
    return fmt_ticks(parse_iso(text))


def _as_collection(obj: dict[str, Any], key: str, value: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    href = obj.get("href")
    if isinstance(href, str):
        out["href"] = f"{href.split('?')[0]}/{key.lower()}"
    out["total"] = len(value)
    out["items"] = value
    return out


_APPLICABLE: dict[str, Callable[[str, Any], bool]] = {
    "bare_name": lambda key, value: _is_lookup(value),
    "numeric_string": lambda key, value: _is_number(value),
    "collection_object": lambda key, value: isinstance(value, list),
    "missing_field": lambda key, value: True,
    "seven_digit_date": lambda key, value: _is_utc_date(value),
    "dotnet_default_date": lambda key, value: _is_utc_date(value),
}
_TRANSFORMS: dict[str, Callable[[dict[str, Any], str, Any], Any]] = {
    "bare_name": lambda obj, key, value: value["name"],
    "numeric_string": lambda obj, key, value: str(value),
    "collection_object": _as_collection,
    "seven_digit_date": lambda obj, key, value: _seven_digits(value),
    "dotnet_default_date": lambda obj, key, value: DOTNET_DEFAULT_DATE,
}


def _is_first_job(template: str, payload: Any) -> bool:
    """``jobs/first`` answering its Job (not the interval listing the reference documents
    on the same path)."""
    return template.endswith("/jobs/first") and isinstance(payload, dict) and "completed" in payload


def _bogus(rng: random.Random, value: Any) -> Any:
    """A bogus value: not necessarily of the field's type (``0.0`` for a count, ``0``
    for a name), as the reference's "0, 0.0, empty string, etc." says."""
    if isinstance(value, dict):
        return ""  # the empty string in an object-typed field
    if isinstance(value, list):
        return []
    if _is_utc_date(value):
        return DOTNET_DEFAULT_DATE
    return _BOGUS_SCALARS[rng.randrange(len(_BOGUS_SCALARS))]


_BOGUS_SCALARS: tuple[Any, ...] = (0, 0.0, "")


def _bogus_first_job(rng: random.Random, job: dict[str, Any]) -> dict[str, Any]:
    """What ``jobs/first`` answers on the live portal: only ``completed`` is real."""
    out: dict[str, Any] = {}
    for key, value in job.items():
        if key == "href":
            out[key] = value
        elif key == "completed":
            out[key] = _seven_digits(value) if _is_utc_date(value) else value
        else:
            out[key] = _bogus(rng, value)
    for key in _FIRST_JOB_OBJECTS:
        out.setdefault(key, "")
    for key in _FIRST_JOB_DATES:
        out.setdefault(key, DOTNET_DEFAULT_DATE)
    return out
