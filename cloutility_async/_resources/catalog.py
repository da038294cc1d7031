"""Resources outside the business-unit tree: time zones and their actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import httpx

from .._exceptions import ValidationError
from .._models import APIEndpoint, TimeZone
from ._base import Ref
from ._checks import bool_param, check_id, iso_utc

if TYPE_CHECKING:
    from .._client import Cloutility

__all__ = ["TimeZoneRef", "action_request"]


class TimeZoneRef(Ref):
    """A time zone (``/timezones/{id}``); no I/O until awaited."""

    __slots__ = ("id",)

    def __init__(self, api: Cloutility, timezone_id: int | str) -> None:
        self.id = check_id(timezone_id, "timezone_id")
        super().__init__(api, self._at(api, f"timezones/{self.id}"))

    def __await__(self) -> Generator[Any, None, TimeZone]:
        return self.get().__await__()

    async def get(self) -> TimeZone:
        return await self._get_model(TimeZone)

    async def utc_offset(self, date: dt.datetime | dt.date) -> Any:
        """Invoke the "Calculate UTC offset" action for ``date``."""
        data, _ = await self._api._get_shared(
            self._url("offset").copy_merge_params({"date": iso_utc(date)})
        )
        return data


def action_request(action: APIEndpoint, params: dict[str, Any]) -> tuple[str, httpx.URL]:
    """The method and URL of a hypermedia action, its parameters URL-encoded.

    An action's href names its parameters without values (``.../offset?date``);
    each must be given, dates become ISO 8601 UTC.
    """
    if not action.href:
        raise ValidationError(f"the action {action.name!r} has no href")
    try:
        url = httpx.URL(action.href)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValidationError(f"the action {action.name!r} has an invalid href") from exc
    expected = [key for key, _ in url.params.multi_items()]
    missing = [key for key in expected if key not in params]
    unknown = [key for key in params if key not in expected]
    if missing or unknown:
        raise ValidationError(
            f"the action {action.name!r} takes {expected}; missing {missing}, unknown {unknown}"
        )
    values: dict[str, str | int | float] = {}
    for key, value in params.items():
        if isinstance(value, dt.date):
            values[key] = iso_utc(value, key)
        elif isinstance(value, bool):
            values[key] = bool_param(value, key)
        elif isinstance(value, (str, int, float)):
            values[key] = value
        else:
            raise ValidationError(f"{key} must be a date, text or a number, got {value!r}")
    return (action.method or "GET").upper(), url.copy_with(params=values)
