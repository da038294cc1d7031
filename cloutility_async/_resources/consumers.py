"""Consumption units ("consumers"): audit log, reports, jobs, and their node."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Generator, Iterable
from typing import Any

from .. import _hypermedia as routes
from .. import _lazy_models as models  # ``models.X`` in annotations, loaded when read
from .._checks import as_utc, bool_param, check_id, iso_utc, maybe_iso_utc
from .._exceptions import NotFoundError, ValidationError
from ._base import HasPort, Ref, payload
from ._instant import ServerInstant, nanos, parse_instant
from ._paging import Pages
from ._port import Port
from .nodes import NodeRef

__all__ = ["ConsumerRef"]

AUDIT_PAGE_SIZE = 100


class ConsumerRef(Ref):
    """A consumption unit (``/bunits/{b}/consumers/{c}``); no I/O until awaited."""

    __slots__ = ("bunit_id", "id")

    def __init__(self, api: Port | HasPort, bunit_id: int | str, consumer_id: int | str) -> None:
        self.bunit_id = check_id(bunit_id, "bunit_id")
        self.id = check_id(consumer_id, "consumer_id")
        self._bind(api, routes.CONSUMER, self.bunit_id, self.id)

    def __await__(self) -> Generator[Any, None, models.Consumer]:
        return self.get().__await__()

    @property
    def node(self) -> NodeRef:
        """The consumer's backup node (one to one); no I/O."""
        return NodeRef(self._port, self.bunit_id, self.id)

    async def get(self) -> models.Consumer:
        """The full consumption unit."""
        return await self._read(routes.CONSUMER)

    async def update(self, consumer: models.Consumer) -> models.Consumer:
        """PUT every field the server sent (unknown ones too), with the caller's changes."""
        return await self._write_model(
            routes.CONSUMER_UPDATE, body=payload(consumer, routes.CONSUMER_UPDATE)
        )

    async def delete(
        self, *, delete_associations: bool = False, comment: str | None = None
    ) -> None:
        """Delete the consumption unit.

        ``delete_associations`` is sent as ``deleteAssociations`` (the portal
        deletes what is associated with the unit too) and ``comment``, if given,
        as the ``deletionComment``.
        """
        params: dict[str, Any] = {
            "deleteAssociations": bool_param(delete_associations, "delete_associations")
        }
        if comment is not None:
            params["deletionComment"] = comment
        await self._write(routes.CONSUMER_DELETE, params=params)

    def audit_log(
        self,
        *,
        types: Iterable[models.AuditLogType | int] | None = None,
        start: dt.datetime | dt.date | None = None,
        end: dt.datetime | dt.date | None = None,
        newest_first: bool = True,
        include_descendants: bool = False,
        page_size: int = AUDIT_PAGE_SIZE,
    ) -> Pages[models.AuditLogEntry]:
        """Every matching audit-log entry: ``async for entry in ref.audit_log(...)``.

        The arguments are checked now (``ValidationError`` before any request);
        pages (``limit``/``offset``) are fetched only as the iterator is read.
        ``await ref.audit_log(...)`` gives the same iterator.
        """
        from .._models import AuditLogType  # the models load on first use

        every_type = tuple(AuditLogType)
        chosen = every_type if types is None else tuple(types)
        for value in chosen:
            if isinstance(value, bool) or value not in every_type:
                raise ValidationError(f"unknown audit log type {value!r}")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValidationError(f"page_size must be a positive int, got {page_size!r}")
        query: list[tuple[str, Any]] = [
            ("includeDescendants", bool_param(include_descendants, "include_descendants")),
            ("orderDesc", bool_param(newest_first, "newest_first")),
        ]
        if start is not None:
            query.append(("startTime", iso_utc(start, "start")))
        if end is not None:
            query.append(("endTime", iso_utc(end, "end")))
        query += [("types", int(value)) for value in chosen]

        async def page(offset: int, limit: int) -> models.Collection[models.AuditLogEntry]:
            params = [("limit", limit), ("offset", offset), *query]
            return await self._page(routes.AUDIT_LOGS, params=params)

        return Pages(page, page_size)

    async def reports(
        self,
        *,
        start: dt.datetime | dt.date | None = None,
        end: dt.datetime | dt.date | None = None,
        status: bool | None = None,
        warnings: bool | None = None,
    ) -> list[models.NodeReport]:
        """Usage reports over an interval; ``status``/``warnings`` add those details."""
        params: dict[str, Any] = {}
        if (value := maybe_iso_utc(start, "start")) is not None:
            params["startDate"] = value
        if (value := maybe_iso_utc(end, "end")) is not None:
            params["endDate"] = value
        if status is not None:
            params["status"] = bool_param(status, "status")
        if warnings is not None:
            params["warnings"] = bool_param(warnings, "warnings")
        return await self._list(routes.REPORTS, params=params)

    async def latest_report(self, user_id: int | None = None) -> models.NodeReport:
        """The newest report, customised for ``user_id`` when given."""
        params = None if user_id is None else {"userId": check_id(user_id, "user_id")}
        return await self._read(routes.REPORT_LATEST, params=params)

    async def first_job(self) -> models.Job:
        """The first job. Only its ``completed`` is meaningful (the reference warns)."""
        return await self._read(routes.FIRST_JOB)

    async def jobs(
        self,
        start: dt.datetime | dt.date | None = None,
        end: dt.datetime | dt.date | None = None,
    ) -> list[models.Job]:
        """Jobs in an interval; without ``start``, the last 24 hours as the server does.

        The server rejects a ``startTime`` before the first job's ``completed``;
        this looks that up once per consumer and clamps ``start`` to it, at the
        server's own precision (a clamped start is sent as the server wrote it).
        """
        start_at = None if start is None else as_utc(_date(start, "start"))
        end_at = None if end is None else as_utc(_date(end, "end"))
        if start_at is None and end_at is None:
            return await self._list(routes.JOBS)
        if start_at is None:
            start_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=24)
        first = await self._first_completed()
        if first is _FirstJob.NONE:
            return []  # no job ever ran
        start_nanos, start_text = nanos(start_at), iso_utc(start_at)
        if isinstance(first, ServerInstant) and start_nanos < first.nanos:
            start_nanos, start_text = first.nanos, first.text
        params = {"startTime": start_text}
        if end_at is not None:
            if nanos(end_at) < start_nanos:
                return []
            params["endTime"] = iso_utc(end_at)
        return await self._list(routes.JOBS, params=params)

    async def _first_completed(self) -> ServerInstant | _FirstJob:
        """The first job's ``completed`` as the server wrote it, or why there is none.

        Only that one field is read from the body, so bogus values elsewhere in
        it (the reference warns of them) cannot break an interval query.
        """
        cache = self._port.first_jobs
        key = (self.bunit_id, self.id)
        if key in cache:
            return cache[key]
        try:
            data, _ = await self._port.get_json(self._url(routes.FIRST_JOB))
        except NotFoundError:
            return _FirstJob.NONE  # no job yet: not cached, the first backup may run any time
        completed = data.get("completed") if isinstance(data, dict) else None
        if completed is None:
            return _FirstJob.NONE
        instant = parse_instant(completed) if isinstance(completed, str) else None
        if instant is None:
            return _FirstJob.UNREADABLE  # the start goes unclamped: the server decides
        cache[key] = instant
        return instant


class _FirstJob(enum.Enum):
    NONE = "no job has run yet"
    UNREADABLE = "its completed is not a date"


def _date(value: Any, what: str) -> dt.datetime | dt.date:
    if not isinstance(value, dt.date):
        raise ValidationError(f"{what} must be a datetime or a date, got {value!r}")
    return value
