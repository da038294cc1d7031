"""Proxies: shared in-flight GETs, lossless writes, the jobs clamp, paging, input checks."""

from __future__ import annotations

import datetime as dt
import json

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest

from cloutility_async import NotFoundError, ValidationError
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


async def test_naive_datetimes_are_taken_as_utc_and_aware_ones_converted() -> None:
    """Dates are sent as ISO 8601 UTC: +02:00 becomes Z two hours earlier."""
    portal = FakePortal()
    route = portal.route("GET", "bunits/22/consumers/408/reports", json={"items": []})
    cest = dt.timezone(dt.timedelta(hours=2))
    async with portal.client() as api:
        await (
            api.bunit(22)
            .consumer(408)
            .reports(start=dt.datetime(2023, 11, 3, 10, tzinfo=cest), end=dt.datetime(2023, 11, 4))
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
    """A walked entry exposes the consumer's fields as well as its unit and proxy."""
    portal = FakePortal()
    portal.route("GET", "bunits", json={"id": 22, "name": "Root", "businessUnits": []})
    portal.route(
        "GET", "bunits/22/consumers", json={"items": [{"id": 7, "name": "ws7", "note": "n"}]}
    )
    async with portal.client() as api:
        (entry,) = [e async for e in api.walk_consumers()]
    assert (entry.id, entry.name, entry.note, entry.bunit_id) == (7, "ws7", "n", 22)
    assert entry.bunit.name == "Root"
    with pytest.raises(AttributeError):
        _ = entry.no_such_field


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
