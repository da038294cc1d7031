"""Resources outside the business-unit tree: time zones and their actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import Any

from .. import _hypermedia as routes
from .. import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from .._checks import check_id, iso_utc
from ._base import HasPort, Ref
from ._port import Port

__all__ = ["TimeZoneRef"]


class TimeZoneRef(Ref):
    """A time zone (``/timezones/{id}``); no I/O until awaited."""

    __slots__ = ("id",)

    def __init__(self, api: Port | HasPort, timezone_id: int | str) -> None:
        self.id = check_id(timezone_id, "timezone_id")
        self._bind(api, routes.TIMEZONE, self.id)

    def __await__(self) -> Generator[Any, None, models.TimeZone]:
        return self.get().__await__()

    async def get(self) -> models.TimeZone:
        """The full time zone, with its ``actions``."""
        return await self._read(routes.TIMEZONE)

    async def utc_offset(self, date: dt.datetime | dt.date) -> Any:
        """Invoke the "Calculate UTC offset" action for ``date``."""
        url = self._url(routes.TIMEZONE_OFFSET, params={"date": iso_utc(date)})
        data, _ = await self._port.get_json(url)
        return data
