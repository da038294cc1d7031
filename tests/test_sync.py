"""The blocking facade (``cloutility_async.sync``) against the simulator served on loopback.

These tests are plain functions (the facade is for synchronous code); each runs
once per anyio backend by asking for ``anyio_backend`` and handing it to the
facade as the loop it runs in its thread.
"""

from __future__ import annotations

import gc
import inspect
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import cloutility_async as aio
from cloutility_async import (
    AuthenticationError,
    ClientStateError,
    ConfigurationError,
    Err,
    NotFoundError,
    Ok,
    UnitError,
    ValidationError,
    sync,
)
from cloutility_async.testing import Simulator


@pytest.fixture(scope="module")
def sim() -> Simulator:
    """One simulator for the module (the tests below only read, except the upload)."""
    return Simulator(consumers=30, seed=5)


@pytest.fixture(scope="module")
def base_url(sim: Simulator) -> Iterator[str]:
    """The simulator on a real loopback socket."""
    with sim.serve_in_thread() as url:
        yield url


def options(sim: Simulator, base_url: str, **more: Any) -> dict[str, Any]:
    """A strict, quickly retrying client for the served simulator."""
    return {**sim.client_options(base_url), "strict": True, "backoff_base": 0.01, **more}


Audit = dict[int, tuple[str | None, int]]


def sync_audit(api: sync.Cloutility) -> Audit:
    """For every consumer: its node's name and how many jobs it ran (worker threads)."""

    def check(entry: sync.ConsumerEntry) -> tuple[str | None, int]:
        node = entry.ref.node.get()
        return node.tsm_name, len(entry.ref.jobs())

    found: Audit = {}
    with api.map(check, api.walk_consumers(), concurrency=8) as results:
        for result in results:
            if result.ok:
                found[result.item.id] = result.value
            else:
                assert isinstance(result.error, NotFoundError)  # consumers without a node
    return found


async def async_audit(sim: Simulator, base_url: str) -> Audit:
    """The same audit through the async client, for comparison."""

    async def check(entry: aio.ConsumerEntry) -> tuple[str | None, int]:
        node = await entry.ref.node.get()
        return node.tsm_name, len(await entry.ref.jobs())

    found: Audit = {}
    client = aio.Cloutility(**options(sim, base_url))
    async with client as api, api.map(check, api.walk_consumers(), concurrency=8) as results:
        async for result in results:
            if result.ok:
                found[result.item.id] = result.value
    return found


async def async_audit_log(sim: Simulator, base_url: str) -> list[int | None]:
    """Consumer 408's audit log through the async client, for comparison."""
    async with aio.Cloutility(**options(sim, base_url)) as api:
        return [entry.id async for entry in api.bunit(22).consumer(408).audit_log(page_size=7)]


def test_the_facade_runs_a_bulk_audit_against_the_served_simulator(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """walk_consumers() and map() as plain iterators find what the async client finds."""
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        found = sync_audit(api)
        stats = api.statistics()
    expected = anyio.run(async_audit, sim, base_url, backend=anyio_backend)
    with_node = {c.id for c in sim.world.consumers_in_tree(sim.world.root_id)}
    with_node = {cid for cid in with_node if sim.world.node(cid) is not None}
    assert set(found) == with_node
    assert found == expected
    assert stats.password_grants == 1
    assert stats.peak_in_flight <= 16  # the client's max_concurrency holds across threads


def test_methods_take_the_async_arguments_and_return_the_models(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """Proxies, ref() and paged listings work without await and give the same models."""
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        consumer = api.bunit(22).consumer(408)
        full = consumer.get()
        assert isinstance(full, aio.Consumer)
        assert full.id == 408
        assert full.business_unit is not None
        unit = api.ref(full.business_unit)
        assert isinstance(unit, sync.BusinessUnitRef)
        assert unit.get().id == 22
        assert api.ref(full) == consumer
        entries = [entry.id for entry in consumer.audit_log(page_size=7)]
        assert len(entries) > 7  # more than one page
        assert entries == anyio.run(async_audit_log, sim, base_url, backend=anyio_backend)
        assert api.full_version() == "1.0.4480.0"
        assert [tz.id for tz in api.timezones()]


def test_a_blocking_view_of_with_options_shares_the_session(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """with_options() without await: the view's calls and proxies use the client's session."""
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        view = api.with_options(timeout=10.0, max_retries=0)
        assert view.full_version() == "1.0.4480.0"
        assert view.bunit(22).consumer(408).get().id == 408
        stats = view.statistics()
        assert stats == api.statistics()
        assert (stats.requests, stats.grants) == (2, 1)


def test_an_error_comes_back_as_the_same_exception_type(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """NotFoundError, ValidationError and an item's error in map() are the async SDK's own."""
    without = next(c for c in sim.world.consumers.values() if sim.world.node(c.id) is None)
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        with pytest.raises(NotFoundError) as info:
            api.bunit(without.bu_id).consumer(without.id).node.get()
        assert info.value.status == 404
        with pytest.raises(ValidationError):
            api.bunit(-1)  # checked before any request, in the caller's thread
        with pytest.raises(ValidationError):
            api.bunit(22).consumer(408).jobs(start="yesterday")  # type: ignore[arg-type]

        def fail(n: int) -> int:
            raise KeyError(n)

        with api.map(fail, [1]) as results:
            (result,) = list(results)
        assert isinstance(result, Err)
        assert type(result.error) is KeyError
        # The walk's own errors too: a unit that cannot be listed comes out as a UnitError.
        sim.faults.inject("GET /bunits/*/consumers", 403, times=1)
        items = list(api.walk_consumers(unit_errors="yield"))
        failed = [item for item in items if isinstance(item, UnitError)]
        assert len(failed) == 1
        assert isinstance(failed[0].error, aio.PermissionDeniedError)


def test_a_failed_login_raises_and_leaves_no_thread(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """A wrong password raises AuthenticationError from open(); the loop's thread is gone."""
    before = set(threading.enumerate())
    api = sync.Cloutility(**options(sim, base_url, password="wrong"), backend=anyio_backend)
    with pytest.raises(AuthenticationError):
        api.open()
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()
    with pytest.raises(ClientStateError):
        api.me()


def test_closing_stops_the_thread_and_later_calls_fail_clearly(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """After the with block the loop's thread has ended; a call raises ClientStateError."""
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        loop_thread = api._runner.call_sync(threading.current_thread)
        assert loop_thread is not threading.current_thread()
        consumer = api.bunit(22).consumer(408)
    assert not loop_thread.is_alive()
    with pytest.raises(ClientStateError, match="not open"):
        consumer.get()
    api.close()  # idempotent


def test_a_closed_client_opens_again_with_a_fresh_session(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """open() after close() starts a new thread and session, as async with does again."""
    api = sync.Cloutility(**options(sim, base_url), backend=anyio_backend)
    for _ in range(2):
        with api:
            assert api.full_version() == "1.0.4480.0"
    with pytest.raises(ClientStateError):
        api.me()


def test_leaving_a_map_early_cancels_the_rest_and_the_client_goes_on(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """break out of map() inside with: the remaining items never run; the client still works."""
    started: list[int] = []

    def slow(n: int) -> int:
        started.append(n)
        threading.Event().wait(0.05)
        return n

    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        with api.map(slow, range(1000), concurrency=2) as results:
            first = next(results)
        assert isinstance(first, Ok)
        assert len(started) < 1000
        assert api.me().name


def test_map_reads_a_plain_generator_that_calls_the_client(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """A generator of items that itself calls the facade is read in a worker thread."""
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:

        def consumer_ids() -> Iterator[int]:
            for consumer in api.bunit(22).consumers():
                assert consumer.id is not None
                yield consumer.id

        def name(cid: int) -> str | None:
            return api.bunit(22).consumer(cid).get().name

        with api.map(name, consumer_ids()) as results:
            names = {result.item: result.unwrap() for result in results}
    assert names == {c.id: c.name for c in sim.world.consumers.values() if c.bu_id == 22}


def test_an_upload_takes_a_plain_iterable_of_chunks(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """upload_invoice_file(generator) streams the chunks; the portal stores their bytes."""
    chunks = [b"%PDF-1.4\n", b"x" * 70_000, b"\n%%EOF\n"]
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        uploaded = api.bunit(22).upload_invoice_file(
            iter(chunks), filename=f"sync-{anyio_backend}.pdf"
        )
        assert uploaded.id is not None
        assert api.bunit(22).download_invoice_file(uploaded) == b"".join(chunks)


def test_bad_options_fail_before_any_thread_starts() -> None:
    """A misspelt option or an unknown backend is a ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match="max_concurency"):
        sync.Cloutility.from_env({}, max_concurency=8)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="backend"):
        sync.Cloutility(
            client_id="c",
            origin="https://app.example",
            username="u",
            password="p",
            backend="curio",  # type: ignore[arg-type]
        )


# -- the facade covers the async API -------------------------------------------------------

PAIRS = [
    (sync.Cloutility, aio.Cloutility),
    (sync.BusinessUnitRef, aio.BusinessUnitRef),
    (sync.ConsumerRef, aio.ConsumerRef),
    (sync.NodeRef, aio.NodeRef),
    (sync.TimeZoneRef, aio.TimeZoneRef),
    (sync.ResourceRef, aio.ResourceRef),
    (sync.CollectionRef, aio.CollectionRef),
    (sync.Ref, aio.Ref),
    (sync.ConsumerEntry, aio.ConsumerEntry),
]
# Async-only by nature: awaiting a proxy, and the async lifecycle.
ASYNC_ONLY = {"aclose"}


def public_names(cls: type) -> set[str]:
    """The public methods and properties of a class, inherited ones included."""
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize(("blocking", "asynchronous"), PAIRS, ids=lambda c: c.__name__)
def test_every_async_method_has_a_blocking_twin(blocking: type, asynchronous: type) -> None:
    """A method added to the async API without its blocking twin fails here."""
    missing = public_names(asynchronous) - public_names(blocking) - ASYNC_ONLY
    assert missing == set()


@pytest.mark.parametrize(("blocking", "asynchronous"), PAIRS, ids=lambda c: c.__name__)
def test_a_blocking_twin_takes_the_same_parameters(blocking: type, asynchronous: type) -> None:
    """Names, kinds and defaults of every method match the async one's (plus ``backend``)."""
    compared = 0
    for name in public_names(asynchronous) - ASYNC_ONLY:
        if isinstance(inspect.getattr_static(asynchronous, name), property):
            continue
        theirs = getattr(asynchronous, name)  # bound to the class: a classmethod loses cls
        if not callable(theirs):
            continue
        ours = getattr(blocking, name)
        mine = inspect.signature(getattr(ours, "__wrapped__", ours))
        assert _shape(mine) == _shape(inspect.signature(theirs)), name
        compared += 1
    assert compared or blocking in (sync.Ref, sync.ConsumerEntry)


def _shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    """Each parameter's name, kind and default; the facade's own ``backend`` left out."""
    return [
        (p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "backend"
    ]


def test_the_constructor_takes_the_async_ones_arguments_and_a_backend() -> None:
    """sync.Cloutility(...) takes every argument of the async constructor, plus backend."""
    hints = inspect.signature(aio.Cloutility.__init__).parameters
    ours = inspect.signature(sync.Cloutility.__init__).parameters
    explicit = {name for name, p in ours.items() if p.kind is not p.VAR_KEYWORD}
    assert explicit - {"self", "backend"} == {"client_id", "origin", "username", "password"}
    from cloutility_async._options import SessionOptions

    assert set(hints) - {"self"} == explicit - {"self", "backend"} | set(
        SessionOptions.__annotations__
    )


def test_statistics_stay_readable_after_the_client_closes(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """As the async client's: after close(), statistics() is the last session's snapshot
    (and before the first open, all zeros)."""
    api = sync.Cloutility(**options(sim, base_url), backend=anyio_backend)
    assert (api.statistics().requests, api.statistics().password_grants) == (0, 0)
    with api:
        api.full_version()
        during = api.statistics()
    after = api.statistics()
    assert after.requests == during.requests >= 1
    assert after.password_grants == 1


def test_an_iterator_left_half_way_closes_its_source_without_a_warning(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """break out of walk_consumers() with no with block: no unexhausted generator is left."""
    with sync.Cloutility(**options(sim, base_url), backend=anyio_backend) as api:
        for entry in api.walk_consumers():
            assert entry.id
            break
        first = next(iter(api.bunit(22).consumer(408).audit_log(page_size=2)))
        assert first.id is not None
        gc.collect()  # trio warns (ResourceWarning) for an async generator collected unexhausted
        assert api.me().name


def test_a_script_that_never_closes_the_client_still_exits(
    sim: Simulator, base_url: str, anyio_backend: sync.Backend
) -> None:
    """open() without close(): the interpreter closes the session at exit instead of hanging."""
    script = (
        "import sys\n"
        "from cloutility_async.sync import Cloutility\n"
        "api = Cloutility.from_env(backend=sys.argv[1]).open()\n"
        "print(api.full_version())\n"
    )
    env = {**os.environ, **sim.environment(base_url)}
    done = subprocess.run(
        [sys.executable, "-c", script, anyio_backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # without the fix it hangs forever
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == "1.0.4480.0"
