"""Proxies: shared in-flight GETs, lossless writes, the jobs clamp, paging, input checks."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest

from cloutility_async import DecodeError, NotFoundError, TransportError, ValidationError
from cloutility_async._models import AuditLogType, Consumer
from tests.fakeportal import FakePortal

pytestmark = pytest.mark.anyio

BASE = "https://portal.test/v1"
UTC = dt.timezone.utc
CONSUMER = {
    "href": f"{BASE}/bunits/22/consumers/408",
    "dataSourceType": {"id": 1, "name": "SP Backup node"},
    "name": "JennysWS",
    "billingStartDate": "2023-06-09T00:00:00Z",
    "businessUnit": {"href": f"{BASE}/bunits/22", "name": "Marketing Department", "id": 22},
    "note": "Jenny's workstation.",
    "limitHighStorage": "100",
    "systemId": "abc-unknown-field",
    "operations": [{"name": "x"}],
    "id": 408,
    "createdDate": "2024-05-20T19:06:03.0810281+02:00",
}


def ok(body: object) -> httpx.Response:
    return httpx.Response(200, json=body)


async def test_concurrent_gets_of_one_href_share_one_request() -> None:
    """100 concurrent .get()s of the same consumer send one request."""
    portal = FakePortal()

    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.05)
        return ok(CONSUMER)

    route = portal.route("GET", "bunits/22/consumers/408", slow)
    results: list[Consumer] = []
    async with portal.client() as api:

        async def get() -> None:
            results.append(await api.bunit(22).consumer(408).get())

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(get)
    assert route.call_count == 1
    assert len(results) == 100
    assert {c.name for c in results} == {"JennysWS"}


async def test_a_failure_is_shared_but_never_cached() -> None:
    """Waiters of a failing GET all see the error; the next GET asks again."""
    portal = FakePortal()
    answers = [httpx.Response(404, json={"message": "gone"}), ok(CONSUMER)]

    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.02)
        return answers.pop(0)

    route = portal.route("GET", "bunits/22/consumers/408", handler)
    errors: list[Exception] = []
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)

        async def get() -> None:
            try:
                await ref.get()
            except NotFoundError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(get)
        assert (await ref.get()).id == 408
    assert len(errors) == 5
    assert route.call_count == 2


async def test_cancelling_one_waiter_does_not_cancel_the_others() -> None:
    """When the caller that sent the shared GET is cancelled, the others still get the result."""
    portal = FakePortal()

    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.1)
        return ok(CONSUMER)

    portal.route("GET", "bunits/22/consumers/408", slow)
    results: list[str | None] = []
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)

        async def leader() -> None:
            with anyio.move_on_after(0.03):
                await ref.get()

        async def follower() -> None:
            results.append((await ref.get()).name)

        async with anyio.create_task_group() as tg:
            tg.start_soon(leader)
            await anyio.sleep(0.01)
            for _ in range(3):
                tg.start_soon(follower)
    assert results == ["JennysWS"] * 3


async def test_a_write_makes_later_gets_start_afresh() -> None:
    """A GET that starts after a PUT does not join a GET that was in flight before it."""
    portal = FakePortal()
    version = {"n": 0}

    async def get(request: httpx.Request) -> httpx.Response:
        seen = version["n"]
        await anyio.sleep(0.05)
        return ok({**CONSUMER, "note": f"v{seen}"})

    async def put(request: httpx.Request) -> httpx.Response:
        version["n"] += 1
        return ok({**CONSUMER, **json.loads(request.content)})

    portal.route("GET", "bunits/22/consumers/408", get)
    portal.route("PUT", "bunits/22/consumers/408", put)
    notes: list[str | None] = []
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)
        consumer = await ref.get()

        async def early() -> None:
            notes.append((await ref.get()).note)

        async with anyio.create_task_group() as tg:
            tg.start_soon(early)
            await anyio.sleep(0.01)
            await ref.update(attrs.evolve(consumer, note="changed"))
            notes.append((await ref.get()).note)
    assert notes == ["v1", "v2"] or notes == ["v0", "v1"]
    assert notes[0] != notes[1]


async def test_update_sends_every_field_the_server_sent() -> None:
    """A PUT after evolve keeps unknown fields and original spellings; only `note` changes."""
    portal = FakePortal()
    portal.route("GET", "bunits/22/consumers/408", json=CONSUMER)
    put = portal.route("PUT", "bunits/22/consumers/408", json=CONSUMER)
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)
        consumer = await ref.get()
        await ref.update(attrs.evolve(consumer, note="moved to the new office"))
    sent = json.loads(put.calls.last.request.content)
    assert sent == {**CONSUMER, "note": "moved to the new office"}


async def test_update_refuses_the_wrong_model_before_sending() -> None:
    """Updating a consumer with a business unit model is a ValidationError, no request."""
    portal = FakePortal()
    put = portal.route("PUT", "bunits/22/consumers/408", json=CONSUMER)
    async with portal.client() as api:
        with pytest.raises(ValidationError):
            await api.bunit(22).consumer(408).update(object())  # type: ignore[arg-type]
    assert put.call_count == 0


def _job(completed: str) -> dict[str, object]:
    return {"id": 1, "completed": completed, "status": {"id": 1, "name": "Completed"}}


async def test_jobs_clamps_start_to_the_first_job_and_looks_it_up_once() -> None:
    """A start before the first job is clamped to its `completed`; the lookup is cached."""
    portal = FakePortal()
    first = portal.route(
        "GET", "bunits/22/consumers/408/jobs/first", json=_job("2023-07-10T02:00:00Z")
    )
    jobs = portal.route(
        "GET",
        "bunits/22/consumers/408/jobs",
        json={"href": "x", "total": 1, "items": [_job("2023-08-01T00:00:00Z")]},
    )
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)
        result = await ref.jobs(start=dt.datetime(2020, 1, 1, tzinfo=UTC), end=dt.date(2024, 1, 1))
        await api.bunit(22).consumer(408).jobs(start=dt.datetime(2023, 9, 1, 12, 30, tzinfo=UTC))
    assert first.call_count == 1
    assert [job.id for job in result] == [1]
    params = [dict(call.request.url.params) for call in jobs.calls]
    assert params[0] == {"startTime": "2023-07-10T02:00:00Z", "endTime": "2024-01-01T00:00:00Z"}
    assert params[1] == {"startTime": "2023-09-01T12:30:00Z"}


async def test_jobs_without_start_asks_for_the_servers_last_24_hours() -> None:
    """With no interval, jobs() sends no startTime, like the server's default."""
    portal = FakePortal()
    jobs = portal.route(
        "GET", "bunits/22/consumers/408/jobs", json={"href": "x", "total": 0, "items": []}
    )
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).jobs() == []
    assert str(jobs.calls.last.request.url) == f"{BASE}/bunits/22/consumers/408/jobs"


async def test_jobs_of_a_consumer_without_jobs_is_empty() -> None:
    """No first job (404) means there are no jobs in any interval: no rejected query is sent."""
    portal = FakePortal()
    portal.route(
        "GET", "bunits/22/consumers/408/jobs/first", status_code=404, json={"message": "none"}
    )
    jobs = portal.route("GET", "bunits/22/consumers/408/jobs", json={"items": []})
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).jobs(start=dt.date(2024, 1, 1)) == []
    assert jobs.call_count == 0


async def test_audit_log_pages_with_limit_and_offset_until_the_last_entry() -> None:
    """The audit log iterator follows limit/offset across pages and stops at the end."""
    portal = FakePortal()
    entries = [{"id": i, "type": 200, "message": f"m{i}"} for i in range(25)]

    async def page(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        return ok(
            {
                "href": str(request.url),
                "total": len(entries),
                "items": entries[offset : offset + limit],
            }
        )

    route = portal.route("GET", "bunits/22/consumers/408/auditlogs", page)
    async with portal.client() as api:
        log = (
            await api.bunit(22)
            .consumer(408)
            .audit_log(types=[AuditLogType.MODIFY, 400], page_size=10, start=dt.date(2023, 11, 3))
        )
        seen = [entry.id async for entry in log]
    assert seen == list(range(25))
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "10", "20"]
    first = route.calls[0].request.url.params
    assert first.get_list("types") == ["200", "400"]
    assert first["startTime"] == "2023-11-03T00:00:00Z"
    assert first["orderDesc"] == "true"


@pytest.mark.parametrize(
    "call",
    [
        lambda api: api.bunit("22/../x"),
        lambda api: api.bunit(0),
        lambda api: api.bunit(-3),
        lambda api: api.bunit(True),
        lambda api: api.bunit(22).consumer("408?x=1"),
        lambda api: api.timezone(1.5),
    ],
)
async def test_bad_ids_are_refused_before_any_request(call: object) -> None:
    """Ids must be positive integers; anything else is a ValidationError up front."""
    portal = FakePortal()
    async with portal.client() as api:
        before = len(portal.router.calls)
        with pytest.raises(ValidationError):
            call(api)  # type: ignore[operator]
        assert len(portal.router.calls) == before


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "ünicode", "semi;colon"])
async def test_activate_refuses_names_outside_ibm_rules(name: str) -> None:
    """Node names must follow IBM Storage Protect's rules; checked before sending."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/consumers/408/node/activate", json="OK")
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="naming rules"):
            await api.bunit(22).consumer(408).node.activate(name)
    assert route.call_count == 0


async def test_activate_accepts_a_valid_name() -> None:
    """A name of letters, digits and _ - . + & is sent as tsmName."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/consumers/408/node/activate", json="Activated")
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).node.activate("JENNY_WS-01.a+b&c") == "Activated"
    assert route.calls.last.request.url.params["tsmName"] == "JENNY_WS-01.a+b&c"


@pytest.mark.parametrize("name", ["", "   ", None])
async def test_empty_consumer_names_are_refused_locally(name: object) -> None:
    """create_consumer with an empty name raises before any POST."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/consumers", json=CONSUMER)
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="name"):
            await api.bunit(22).create_consumer(name=name)  # type: ignore[arg-type]
    assert route.call_count == 0


@pytest.mark.parametrize("start", ["2023-01-01", 1700000000, "yesterday"])
async def test_dates_must_be_dates(start: object) -> None:
    """Report intervals take datetime or date objects; strings and numbers are refused."""
    portal = FakePortal()
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="start"):
            await api.bunit(22).consumer(408).reports(start=start)  # type: ignore[arg-type]


async def test_aware_datetimes_and_dates_are_sent_as_utc() -> None:
    """Dates are sent as ISO 8601 UTC: +02:00 becomes Z two hours earlier, a date is midnight."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/consumers/408/reports", json={"items": []})
    cest = dt.timezone(dt.timedelta(hours=2))
    async with portal.client() as api:
        await (
            api.bunit(22)
            .consumer(408)
            .reports(start=dt.datetime(2023, 11, 3, 10, tzinfo=cest), end=dt.date(2023, 11, 4))
        )
    params = route.calls.last.request.url.params
    assert params["startDate"] == "2023-11-03T08:00:00Z"
    assert params["endDate"] == "2023-11-04T00:00:00Z"


async def test_map_keeps_going_past_failures_and_names_them() -> None:
    """A bulk run over 5,000 items where 3 fail returns 4,997 values and the 3 errors."""
    portal = FakePortal()
    bad = {17, 2500, 4999}

    async def work(item: int) -> int:
        await anyio.lowlevel.checkpoint()
        if item in bad:
            raise NotFoundError(f"consumer {item} vanished")
        return item * 2

    async with portal.client() as api:
        results = [result async for result in api.map(work, range(5000), concurrency=50)]
    assert len(results) == 5000
    failed = sorted(r.item for r in results if not r.ok)
    assert failed == sorted(bad)
    assert all(isinstance(r.error, NotFoundError) for r in results if not r.ok)
    assert sorted(r.value for r in results if r.ok) == [i * 2 for i in range(5000) if i not in bad]


async def test_map_runs_at_most_concurrency_items_at_once() -> None:
    """The concurrency bound holds while results stream out."""
    portal = FakePortal()
    running = peak = 0

    async def work(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.005)
        running -= 1
        return item

    async with portal.client() as api:
        values = sorted([r.unwrap() async for r in api.map(work, range(40), concurrency=7)])
    assert values == list(range(40))
    assert peak == 7


async def test_breaking_out_of_map_early_stops_the_work() -> None:
    """Leaving the loop early cancels the remaining items and leaves the client usable."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", json="1.0")
    started: list[int] = []

    async def work(item: int) -> int:
        started.append(item)
        await anyio.sleep(0.01)
        return item

    async with portal.client() as api:
        async for _ in api.map(work, range(1000), concurrency=4):
            break
        await anyio.sleep(0.05)
        assert len(started) < 20
        assert await api.full_version() == "1.0"


async def test_walk_consumers_lists_every_unit_of_the_tree() -> None:
    """walk_consumers fetches the tree once and every unit's consumers, yielding them all."""
    portal = FakePortal()
    tree = {
        "id": 22,
        "name": "Company AB",
        "businessUnits": [
            {
                "id": 76,
                "parentId": 22,
                "name": "Marketing",
                "businessUnits": [
                    {"id": 80, "parentId": 76, "name": "Nested", "businessUnits": []}
                ],
            },
            {"id": 94, "parentId": 22, "name": "HR", "businessUnits": []},
        ],
    }
    tree_route = portal.route("GET", "bunits", json=tree)
    for unit, ids in {22: [1, 2], 76: [3], 80: [], 94: [4, 5, 6]}.items():
        portal.route(
            "GET",
            f"bunits/{unit}/consumers",
            json={
                "href": "x",
                "total": len(ids),
                "items": [
                    {"id": i, "name": f"c{i}", "href": f"{BASE}/bunits/{unit}/consumers/{i}"}
                    for i in ids
                ],
            },
        )
    async with portal.client() as api:
        found = {
            (e.bunit.id, e.consumer.id, e.ref.bunit_id, e.ref.id)
            async for e in api.walk_consumers()
        }
    assert found == {
        (22, 1, 22, 1),
        (22, 2, 22, 2),
        (76, 3, 76, 3),
        (94, 4, 94, 4),
        (94, 5, 94, 5),
        (94, 6, 94, 6),
    }
    assert tree_route.call_count == 1


async def test_walk_consumers_raises_when_a_unit_cannot_be_listed() -> None:
    """A unit whose consumers cannot be listed is an error, not silently skipped."""
    portal = FakePortal()
    portal.route(
        "GET",
        "bunits",
        json={"id": 22, "name": "Root", "businessUnits": [{"id": 5, "name": "Broken"}]},
    )
    portal.route("GET", "bunits/22/consumers", json={"items": []})
    portal.route("GET", "bunits/5/consumers", status_code=403, json={"message": "denied"})
    async with portal.client(max_retries=0) as api:
        with pytest.raises(Exception, match="denied"):
            async for _ in api.walk_consumers():
                pass


async def test_walked_consumers_read_like_consumers() -> None:
    """A walked entry exposes the consumer, its identity, its unit and its proxy."""
    portal = FakePortal()
    portal.route("GET", "bunits", json={"id": 22, "name": "Root", "businessUnits": []})
    portal.route(
        "GET", "bunits/22/consumers", json={"items": [{"id": 7, "name": "ws7", "note": "n"}]}
    )
    async with portal.client() as api:
        (entry,) = [e async for e in api.walk_consumers()]
    assert (entry.id, entry.name, entry.consumer.note, entry.bunit_id) == (7, "ws7", "n", 22)
    assert entry.bunit.name == "Root"
    with pytest.raises(AttributeError):
        _ = entry.no_such_field  # type: ignore[attr-defined]


async def test_a_map_cut_short_by_the_client_closing_is_not_complete() -> None:
    """When the client closes mid-run, iterating the map raises instead of ending quietly."""
    from cloutility_async import ClientStateError

    portal = FakePortal()

    async def slow(item: int) -> int:
        await anyio.sleep(1)
        return item

    seen: list[int] = []
    async with portal.client() as api:
        results = api.map(slow, range(10), concurrency=2)
        await api.aclose()

        async def drain() -> None:
            async for result in results:
                seen.append(result.unwrap())

        with pytest.raises(ClientStateError, match="before every item"):
            await drain()
    assert seen == []


async def test_map_does_not_run_ahead_of_a_slow_consumer() -> None:
    """With concurrency 4, taking one result runs only a handful of items, not all of them."""
    portal = FakePortal()
    done: list[int] = []

    async def work(item: int) -> int:
        done.append(item)
        return item

    async with portal.client() as api, api.map(work, range(1000), concurrency=4) as results:
        async for _ in results:
            await anyio.sleep(0.05)
            break
    assert len(done) <= 12


async def test_jobs_find_the_first_backup_once_it_has_run() -> None:
    """A consumer without jobs is asked again later: 'no job yet' is not remembered."""
    portal = FakePortal()
    first = portal.route("GET", "bunits/22/consumers/408/jobs/first")
    first.side_effect = [
        httpx.Response(404, json={"message": "none"}),
        ok(_job("2024-02-01T00:00:00Z")),
    ]
    jobs = portal.route(
        "GET", "bunits/22/consumers/408/jobs", json={"items": [_job("2024-02-01T00:00:00Z")]}
    )
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)
        assert await ref.jobs(start=dt.date(2024, 1, 1)) == []
        assert len(await ref.jobs(start=dt.date(2024, 1, 1))) == 1
    assert jobs.calls.last.request.url.params["startTime"] == "2024-02-01T00:00:00Z"


async def test_audit_log_keeps_paging_when_the_server_caps_the_page_size() -> None:
    """Asked for 50 a page but given 20, the iterator follows `total` to the end."""
    portal = FakePortal()
    entries = [{"id": i} for i in range(45)]

    async def capped(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return ok({"total": len(entries), "items": entries[offset : offset + 20]})

    portal.route("GET", "bunits/22/consumers/408/auditlogs", capped)
    async with portal.client() as api:
        log = await api.bunit(22).consumer(408).audit_log(page_size=50)
        assert [entry.id async for entry in log] == list(range(45))


async def test_waiters_of_a_failed_get_each_get_their_own_error() -> None:
    """Shared failures are copies: a traceback does not collect every waiter's frames."""
    portal = FakePortal()

    async def slow_404(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.02)
        return httpx.Response(404, json={"message": "gone"})

    portal.route("GET", "bunits/22/consumers/408", slow_404)
    errors: list[NotFoundError] = []
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)

        async def get() -> None:
            try:
                await ref.get()
            except NotFoundError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(get)
    assert len(errors) == 20
    assert len({id(e) for e in errors}) == 20
    assert {e.status for e in errors} == {404}


async def test_invoke_refuses_parameters_it_cannot_encode() -> None:
    """An action parameter that is neither a date, text nor a number is a ValidationError."""
    from cloutility_async import APIEndpoint

    portal = FakePortal()
    action = APIEndpoint(
        name="Calculate UTC offset", method="GET", href=f"{BASE}/timezones/4/offset?date"
    )
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="date"):
            await api.invoke(action, date=object())


# -- the jobs start, at the server's own precision --------------------------------------

SEVEN_DIGITS = "2024-05-20T19:06:03.0810281+02:00"  # 17:06:03.0810281 UTC
_TEXT = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def ticks(text: str) -> int:
    """A .NET DateTimeOffset's UTC ticks (100 ns), as a strict server compares them."""
    match = _TEXT.fullmatch(text)
    assert match, text
    whole, fraction, zone = match.groups()
    moment = dt.datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    seconds = int(moment.timestamp())
    digits = (fraction or "").ljust(7, "0")
    assert len(digits) == 7, "the server reads at most seven digits"
    return seconds * 10_000_000 + int(digits)


def strict_jobs(completed: str, seen: list[str]) -> Any:
    """The jobs route of a server that rejects any startTime before `completed` (100 ns)."""

    async def handler(request: httpx.Request) -> httpx.Response:
        start = request.url.params["startTime"]
        seen.append(start)
        if ticks(start) < ticks(completed):
            return httpx.Response(400, json={"message": "startTime is before the first job"})
        return ok({"total": 1, "items": [_job(completed)]})

    return handler


@pytest.mark.parametrize(
    "start",
    [
        dt.datetime(2020, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 5, 20, 17, 6, 3, 81028, tzinfo=UTC),  # the truncated `completed`
        dt.date(2024, 5, 20),
    ],
)
async def test_a_seven_digit_first_job_is_never_undercut_by_the_start(
    start: dt.datetime | dt.date,
) -> None:
    """A start before a seven-digit `completed` is sent as that instant: a strict server agrees."""
    portal = FakePortal()
    portal.route("GET", "bunits/22/consumers/408/jobs/first", json=_job(SEVEN_DIGITS))
    seen: list[str] = []
    portal.route("GET", "bunits/22/consumers/408/jobs", strict_jobs(SEVEN_DIGITS, seen))
    async with portal.client() as api:
        jobs = await api.bunit(22).consumer(408).jobs(start=start)
    assert len(jobs) == 1
    assert seen == ["2024-05-20T17:06:03.0810281Z"]
    assert ticks(seen[0]) == ticks(SEVEN_DIGITS)


async def test_a_start_after_the_first_job_is_sent_as_given() -> None:
    """A start 1 us after `completed` goes out unchanged (microseconds, UTC)."""
    portal = FakePortal()
    portal.route("GET", "bunits/22/consumers/408/jobs/first", json=_job(SEVEN_DIGITS))
    seen: list[str] = []
    portal.route("GET", "bunits/22/consumers/408/jobs", strict_jobs(SEVEN_DIGITS, seen))
    start = dt.datetime(2024, 5, 20, 17, 6, 3, 81029, tzinfo=UTC)
    async with portal.client() as api:
        await api.bunit(22).consumer(408).jobs(start=start, end=dt.date(2024, 6, 1))
    assert seen == ["2024-05-20T17:06:03.081029Z"]


async def test_only_completed_is_read_from_a_bogus_first_job() -> None:
    """Bogus values elsewhere in jobs/first (the reference warns of them) do not break jobs()."""
    portal = FakePortal()
    bogus = {
        "completed": "2023-07-10T02:00:00Z",
        "id": "",
        "status": "",
        "duration": 12.5,
        "examinedFiles": "0",
        "tags": {"href": "x", "total": 0, "items": []},
        "scheduled": "yes",
    }
    portal.route("GET", "bunits/22/consumers/408/jobs/first", json=bogus)
    jobs = portal.route("GET", "bunits/22/consumers/408/jobs", json={"items": [_job("2023-08-01")]})
    async with portal.client() as api:
        found = await api.bunit(22).consumer(408).jobs(start=dt.date(2020, 1, 1))
    assert len(found) == 1
    assert jobs.calls.last.request.url.params["startTime"] == "2023-07-10T02:00:00Z"


@pytest.mark.parametrize("completed", ["", 0, "soon", {"date": "x"}])
async def test_an_unreadable_first_completed_leaves_the_start_to_the_server(
    completed: object,
) -> None:
    """A `completed` that is no date leaves the start unclamped (the server decides), uncached."""
    portal = FakePortal()
    first = portal.route(
        "GET", "bunits/22/consumers/408/jobs/first", json={"id": 0, "completed": completed}
    )
    jobs = portal.route("GET", "bunits/22/consumers/408/jobs", json={"items": []})
    async with portal.client() as api:
        ref = api.bunit(22).consumer(408)
        await ref.jobs(start=dt.date(2020, 1, 1))
        await ref.jobs(start=dt.date(2020, 1, 1))
    assert [c.request.url.params["startTime"] for c in jobs.calls] == ["2020-01-01T00:00:00Z"] * 2
    assert first.call_count == 2


# -- answers that are a bare string ------------------------------------------------------

N = "bunits/22/consumers/408/node"


@pytest.mark.parametrize(
    "answer",
    [
        {"json": "COMPANYAB_JENNYSWS"},
        {"text": "COMPANYAB_JENNYSWS", "headers": {"Content-Type": "text/plain"}},
        {"text": "COMPANYAB_JENNYSWS\r\n", "headers": {"Content-Type": "text/plain"}},
        {"content": b"COMPANYAB_JENNYSWS"},
        {"text": "COMPANYAB_JENNYSWS", "headers": {"Content-Type": "application/json"}},
    ],
)
async def test_the_suggested_name_reads_as_json_or_plain_text_and_activates_unquoted(
    answer: dict[str, Any],
) -> None:
    """spname as a JSON string or as plain text gives the bare name; activate sends it unquoted."""
    portal = FakePortal()
    portal.route("GET", f"{N}/spname", **answer)
    activate = portal.route(
        "GET", f"{N}/activate", text="Node activated", headers={"Content-Type": "text/plain"}
    )
    async with portal.client() as api:
        node = api.bunit(22).consumer(408).node
        name = await node.suggested_name()
        assert name == "COMPANYAB_JENNYSWS"
        assert await node.activate(name) == "Node activated"
    assert activate.calls.last.request.url.params["tsmName"] == "COMPANYAB_JENNYSWS"


async def test_full_version_reads_plain_text_too() -> None:
    """fullVersion answered as text/plain gives the version text."""
    portal = FakePortal()
    portal.route("GET", "fullVersion", text="1.0.4480.0\n", headers={"Content-Type": "text/plain"})
    async with portal.client() as api:
        assert await api.full_version() == "1.0.4480.0"


@pytest.mark.parametrize("answer", [{"json": 42}, {"json": ""}, {"content": b""}, {"json": None}])
async def test_a_string_route_that_answers_no_string_is_a_decode_error(
    answer: dict[str, Any],
) -> None:
    """A JSON number, an empty string or an empty body where a string is due: DecodeError."""
    portal = FakePortal()
    portal.route("GET", f"{N}/spname", **answer)
    async with portal.client() as api:
        with pytest.raises(DecodeError) as info:
            await api.bunit(22).consumer(408).node.suggested_name()
    assert info.value.status == 200
    assert info.value.url is not None
    assert info.value.url.endswith("/spname")


@pytest.mark.parametrize("name", ['"JENNYSWS"', "'JENNYSWS'", "JENNYSWS\n"])
async def test_activate_never_sends_a_name_with_stray_quotes(name: str) -> None:
    """A name with quotes or a newline is refused before the request."""
    portal = FakePortal()
    activate = portal.route("GET", f"{N}/activate", json="ok")
    async with portal.client() as api:
        with pytest.raises(ValidationError):
            await api.bunit(22).consumer(408).node.activate(name)
    assert activate.call_count == 0


# -- audit logs: the call is the iterator ------------------------------------------------


async def test_audit_log_is_an_async_iterator_that_pages_only_when_read() -> None:
    """`async for e in ref.audit_log()` works; nothing is sent until the first entry is read."""
    portal = FakePortal()
    route = portal.route(
        "GET",
        "bunits/22/consumers/408/auditlogs",
        json={"total": 2, "items": [{"id": 1}, {"id": 2}]},
    )
    async with portal.client() as api:
        log = api.bunit(22).consumer(408).audit_log(page_size=5)
        assert route.call_count == 0
        assert [entry.id async for entry in log] == [1, 2]
    assert route.call_count == 1


async def test_awaiting_the_audit_log_gives_the_same_iterator() -> None:
    """Code written against the coroutine shape (`await ref.audit_log()`) keeps working."""
    portal = FakePortal()
    portal.route(
        "GET", "bunits/22/consumers/408/auditlogs", json={"total": 1, "items": [{"id": 9}]}
    )
    async with portal.client() as api:
        log = api.bunit(22).consumer(408).audit_log()
        assert await log is log
        assert [entry.id async for entry in log] == [9]


@pytest.mark.parametrize(
    "options", [{"types": [999]}, {"page_size": 0}, {"start": "yesterday"}, {"newest_first": 1}]
)
async def test_audit_log_arguments_are_checked_at_the_call(options: dict[str, Any]) -> None:
    """Bad arguments raise ValidationError when audit_log() is called, before any request."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/consumers/408/auditlogs", json={"items": []})
    async with portal.client() as api:
        with pytest.raises(ValidationError):
            api.bunit(22).consumer(408).audit_log(**options)
    assert route.call_count == 0


async def test_closing_the_audit_log_early_stops_the_paging() -> None:
    """aclose() after the first page fetches no more pages."""
    portal = FakePortal()
    route = portal.route(
        "GET",
        "bunits/22/consumers/408/auditlogs",
        json={"total": 10, "items": [{"id": 1}, {"id": 2}]},
    )
    async with portal.client() as api:
        log = api.bunit(22).consumer(408).audit_log(page_size=2)
        assert (await log.__anext__()).id == 1
        await log.aclose()
        assert [entry async for entry in log] == []
    assert route.call_count == 1


# -- retries decided by the route --------------------------------------------------------


def flaky(error: Exception, then: httpx.Response) -> Any:
    """A handler that fails once with ``error`` and then answers ``then``."""
    calls: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise error
        return then

    return handler


async def test_activate_is_not_retried_once_the_request_may_have_arrived() -> None:
    """GET .../activate changes state: a read error after sending is raised, not retried."""
    portal = FakePortal()
    route = portal.route(
        "GET", f"{N}/activate", flaky(httpx.ReadError("reset"), ok("Node activated"))
    )
    async with portal.client() as api:
        with pytest.raises(TransportError):
            await api.bunit(22).consumer(408).node.activate("JENNYSWS")
    assert route.call_count == 1


async def test_activate_is_retried_when_the_connection_never_opened() -> None:
    """A connect error means nothing reached the server: activate is tried again."""
    portal = FakePortal()
    route = portal.route(
        "GET", f"{N}/activate", flaky(httpx.ConnectError("refused"), ok("Node activated"))
    )
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).node.activate("JENNYSWS") == "Node activated"
    assert route.call_count == 2


async def test_a_safe_get_is_retried_after_a_read_error() -> None:
    """GET .../spname changes nothing: a read error is retried."""
    portal = FakePortal()
    route = portal.route("GET", f"{N}/spname", flaky(httpx.ReadError("reset"), ok("NAME")))
    async with portal.client() as api:
        assert await api.bunit(22).consumer(408).node.suggested_name() == "NAME"
    assert route.call_count == 2


# -- following what the portal links -----------------------------------------------------


async def test_ref_follows_the_users_href_that_me_links() -> None:
    """A user's href as the portal writes it (bunits/{b}/users/{u}) is followed to a User."""
    portal = FakePortal()
    me = {"href": f"{BASE}/bunits/22/users/7", "id": 7, "name": "alice"}
    portal.route("GET", "me", json=me)
    user_route = portal.route("GET", "bunits/22/users/7", json=me)
    async with portal.client() as api:
        user = await api.ref(await api.me()).get()
    assert user.name == "alice"
    assert user_route.call_count == 1


async def test_the_invented_users_route_is_not_followed() -> None:
    """users/{id} is no route of the portal: ref() refuses it before any request."""
    portal = FakePortal()
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="no known route"):
            api.ref(f"{BASE}/users/7")


def _file(file_id: int, name: str) -> dict[str, object]:
    return {"href": f"{BASE}/bunits/22/invoicefiles/{file_id}", "id": file_id, "fileName": name}


@pytest.mark.parametrize(
    "answer",
    [
        _file(12, "nov.pdf"),
        {"href": "x", "total": 1, "items": [_file(12, "nov.pdf")]},
        [_file(12, "nov.pdf")],
        {"total": 3, "items": [_file(3, "oct.pdf"), _file(12, "nov.pdf"), _file(9, "nov.pdf")]},
    ],
)
async def test_upload_returns_the_created_file_from_a_file_or_a_collection(answer: object) -> None:
    """Answered with the file or with a collection holding it, the upload gives that file."""
    portal = FakePortal()
    portal.route("POST", "bunits/22/invoicefiles", json=answer)
    async with portal.client() as api:
        created = await api.bunit(22).upload_invoice_file(b"%PDF-1.4", filename="nov.pdf")
    assert (created.id, created.file_name) == (12, "nov.pdf")


@pytest.mark.parametrize(
    "answer",
    [{}, {"fileName": "nov.pdf"}, {"total": 0, "items": []}, [_file(3, "a"), _file(4, "b")]],
)
async def test_upload_never_returns_a_hollow_file(answer: object) -> None:
    """An answer without an identifiable created file is a DecodeError naming the file."""
    portal = FakePortal()
    portal.route("POST", "bunits/22/invoicefiles", json=answer)
    async with portal.client() as api:
        with pytest.raises(DecodeError, match=r"nov\.pdf"):
            await api.bunit(22).upload_invoice_file(b"%PDF-1.4", filename="nov.pdf")
