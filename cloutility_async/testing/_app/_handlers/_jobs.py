"""A consumer's reports and jobs (with the jobs ``startTime`` rule)."""

from __future__ import annotations

from datetime import timedelta

from ..._errors import ApiError
from ..._formats import fmt_ms
from ..._world import Consumer
from .._context import Ctx
from .._render import (
    listing,
    render_first_job,
    render_job,
    render_report,
)
from .._responses import Response, ok
from .._router import RouteSpec


def reports(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    start = ctx.q_time("startDate")
    end = ctx.q_time("endDate")
    status = ctx.q_bool("status")
    warnings = ctx.q_bool("warnings")
    items = [
        render_report(ctx.world, ctx.base, c, r, status=status, warnings=warnings)
        for r in c.reports
        if (start is None or r.report_date >= start) and (end is None or r.report_date <= end)
    ]
    return ok(listing(ctx.url, items))


def report_latest(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    ctx.q_int("userId")
    if not c.reports:
        raise ApiError(404, "The consumption unit has no reports yet.")
    return ok(render_report(ctx.world, ctx.base, c, c.reports[-1], status=True, warnings=True))


def report(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    rid = ctx.int_param(2)
    for r in c.reports:
        if r.id == rid:
            return ok(render_report(ctx.world, ctx.base, c, r, status=True, warnings=True))
    raise ApiError(404, f"Report {rid} was not found.")


def _jobs_between(ctx: Ctx, c: Consumer) -> Response:
    start = ctx.q_time("startTime")
    end = ctx.q_time("endTime")
    if start is None:
        start = ctx.world.current_time() - timedelta(hours=24)
    elif c.jobs and start < c.jobs[0].completed:
        first = c.jobs[0].raw["completed"]
        raise ApiError(
            400,
            "startTime must be greater than or equal to the completion time of the first job.",
            code="InvalidStartTime",
            developer=f"startTime {fmt_ms(start)} is earlier than the first job's "
            f"completed {first}; get it from jobs/first.",
        )
    items = [
        render_job(ctx.base, c, j)
        for j in c.jobs
        if j.completed >= start and (end is None or j.completed <= end)
    ]
    return ok(listing(ctx.url, items))


def jobs(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    return _jobs_between(ctx, c)


def job_first(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    if ctx.q("startTime") is not None or ctx.q("endTime") is not None:
        # The reference documents the interval query on this path (a typo).
        return _jobs_between(ctx, c)
    if not c.jobs:
        raise ApiError(404, "The consumption unit has no jobs.")
    return ok(render_first_job(ctx.base, c, c.jobs[0]))


def job(ctx: Ctx) -> Response:
    _bu, c = ctx.bu_and_consumer()
    jid = ctx.int_param(2)
    for j in c.jobs:
        if j.id == jid:
            return ok(render_job(ctx.base, c, j))
    raise ApiError(404, f"Job {jid} was not found.")


ROUTES: list[RouteSpec] = [
    ("GET", "bunits/{id}/consumers/{id}/reports", reports),
    ("GET", "bunits/{id}/consumers/{id}/reports/latest", report_latest),
    ("GET", "bunits/{id}/consumers/{id}/reports/{id}", report),
    ("GET", "bunits/{id}/consumers/{id}/jobs", jobs),
    ("GET", "bunits/{id}/consumers/{id}/jobs/first", job_first),
    ("GET", "bunits/{id}/consumers/{id}/jobs/{id}", job),
]
