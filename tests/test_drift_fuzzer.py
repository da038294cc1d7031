"""The drift fuzzer: no value of an unexpected JSON type makes a GET route unreadable.

Every GET route of the route table (``_hypermedia.ROUTES``) that is read into
models is fuzzed, so a route added to the table is fuzzed without a line here.
A route with a public call of its own is read through that call (`CALLS`);
every other one as a user following one of its hrefs would, through
``api.ref(href)``. Ids come from the simulator's default world: the caller's
unit, a consumer with a node, jobs and filespaces, and for an item route
(``.../jobs/{job}``) the first item of its collection route; where the
simulator has no such item route (the reference documents only some), that
item as the collection lists it stands in for the body.

A real simulator response is captured once; then each of its fields (top level,
and one level down: the keys of each object value and of the first element of
each array value) is replaced in turn by a value of every other JSON type and
by ``""``, ``"0"`` and ``null``, and served to the SDK through a transport that
rewrites the body. For each drifted response:

* the tolerant client (the default) reads it: nothing raises (its nested
  objects are built, and their drift reported, when first read);
* every other field equals the undrifted read;
* the drifted value is either accepted faithfully (a shape that means the same
  thing: a number for a TimeSpan, a bare name for a lookup, ...) or the field
  has its default, its key is in the owning model's ``unparsed`` and the client
  counted the drift; never both, never neither;
* where the table has a PUT of the same path (consumers, business units,
  nodes), a PUT after the drifted read sends every key exactly as received,
  with only the changed field overlaid;
* a strict client raises ``DecodeError`` naming the field exactly when the
  value was not accepted, and otherwise reads the same model.

The figure "N of M drifted responses readable" is printed in pytest's terminal
summary (see ``conftest.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest

from cloutility_async import Cloutility, DecodeError, Lookup, Model
from cloutility_async import _hypermedia as routes
from cloutility_async._converter import json_keys
from cloutility_async._hypermedia import Route
from cloutility_async.testing import Simulator

pytestmark = pytest.mark.anyio

#: One value of each JSON type, plus the bogus values the vendor warns about.
DRIFTS: tuple[Any, ...] = ({"drifted": 1}, ["drifted"], "drifted", 12.5, True, None, "", "0")
#: Every variant runs on asyncio. On trio each top-level field gets one drift,
#: the next value of DRIFTS for each field in turn: the converter never touches
#: the event loop, so trio has to show only that the same read, strict and write
#: paths behave the same there, not to repeat thousands of reads (the suite
#: stays fast).
CHANGED = "fuzz-change"
JSON = {"content-type": "application/json; charset=utf-8"}


@attrs.frozen
class Ids:
    """Where the simulator's default world has something behind every route."""

    bunit: int  # the caller's root unit: contract, invoices, billing, server
    consumer_bunit: int
    consumer: int


@attrs.frozen
class Target:
    """Where one route is read: its ids, the item id of an item route, its path."""

    bunit: int
    consumer: int
    item: str  # the last placeholder's value of an item route, else ""
    path: str  # below the base URL
    #: An item route's object as its collection lists it: served where the
    #: simulator has no such route (the reference documents only some of them).
    stand_in: Any = None


Call = Callable[[Cloutility, Target], Awaitable[Any]]


def _consumer(api: Cloutility, at: Target) -> Any:
    return api.bunit(at.bunit).consumer(at.consumer)


async def _audit_log(api: Cloutility, at: Target) -> list[Any]:
    return [entry async for entry in _consumer(api, at).audit_log()]


#: The routes a public call of their own reads (with its parameters, paging or
#: clamping); every other GET route of a model is read through ``api.ref(href)``.
CALLS: dict[Route[Any], Call] = {
    routes.ME: lambda api, at: api.me(),
    routes.BUNIT_TREE: lambda api, at: api.bunit_tree(),
    routes.SEARCH_BUNITS: lambda api, at: api.search_bunits("a"),
    routes.TIMEZONES: lambda api, at: api.timezones(),
    routes.TIMEZONE: lambda api, at: api.timezone(at.item).get(),
    routes.OPERATING_SYSTEMS: lambda api, at: api.node_operating_systems(),
    routes.NODE_TYPES: lambda api, at: api.node_types(),
    routes.WARNING_TYPES: lambda api, at: api.node_warning_types(),
    routes.BUNIT: lambda api, at: api.bunit(at.bunit).get(),
    routes.BUNIT_CHILDREN: lambda api, at: api.bunit(at.bunit).children(),
    routes.BUNIT_USERS: lambda api, at: api.bunit(at.bunit).users(),
    routes.BUNIT_CONSUMERS: lambda api, at: api.bunit(at.bunit).consumers(),
    routes.DEFAULT_SERVER: lambda api, at: api.bunit(at.bunit).default_server(),
    routes.DOMAINS: lambda api, at: api.bunit(at.bunit).domains(),
    routes.OPTION_SETS: lambda api, at: api.bunit(at.bunit).client_option_sets(),
    routes.CONTRACT: lambda api, at: api.bunit(at.bunit).contract(),
    routes.INVOICES: lambda api, at: api.bunit(at.bunit).invoices(),
    routes.INVOICE: lambda api, at: api.bunit(at.bunit).invoice(at.item),
    routes.INVOICE_FILES: lambda api, at: api.bunit(at.bunit).invoice_files(),
    routes.BILLING: lambda api, at: api.bunit(at.bunit).billing(),
    routes.BILLING_FOR: lambda api, at: api.bunit(at.bunit).billing_for(at.item),
    routes.CONSUMER: lambda api, at: _consumer(api, at).get(),
    routes.AUDIT_LOGS: _audit_log,
    routes.REPORTS: lambda api, at: _consumer(api, at).reports(),
    routes.REPORT_LATEST: lambda api, at: _consumer(api, at).latest_report(),
    routes.FIRST_JOB: lambda api, at: _consumer(api, at).first_job(),
    routes.JOBS: lambda api, at: _consumer(api, at).jobs(),
    routes.NODE: lambda api, at: _consumer(api, at).node.get(),
    routes.FILESPACES: lambda api, at: _consumer(api, at).node.filespaces(),
    routes.PROXY_NODES: lambda api, at: _consumer(api, at).node.possible_proxy_nodes(),
}


def reads_models(route: Route[Any]) -> bool:
    """A GET whose answer the converter structures (not a string, file or bare JSON)."""
    return (
        route.method == "GET" and isinstance(route.model, type) and issubclass(route.model, Model)
    )


#: Every GET route the SDK reads into models, in table order.
FUZZED: list[Route[Any]] = [route for route in routes.ROUTES if reads_models(route)]
_PUTS = {route.template for route in routes.ROUTES if route.method == "PUT"}


def placeholders(template: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", template)


def call_for(route: Route[Any]) -> Call:
    """The route's public call, or a GET of its href through ``api.ref()``."""
    call = CALLS.get(route)
    if call is not None:
        return call
    assert route.follow is not None, (
        f"{route.template} is neither followable nor in CALLS: add its public call to CALLS"
    )
    if route.many:
        return lambda api, at: api.ref(at.path).list()
    return lambda api, at: api.ref(at.path).get()


async def write_back(api: Cloutility, at: Target, model: Any) -> Any:
    """PUT ``model`` through the proxy of its href (the table has a PUT there)."""
    return await api.ref(at.path).update(model)


def changes(model: type[Model]) -> tuple[str, ...]:
    """Fields a write may change to a string: plain, shown string fields other than href."""
    text = str | None
    skip = ("href", "dotnet_type")
    fields = attrs.fields(model)
    return tuple(f.name for f in fields if f.type == text and f.repr and f.name not in skip)[:2]


def route_id(route: Route[Any]) -> str:
    return route.template.replace("bunits/{bunit}/consumers/{consumer}", "consumers/{c}")


# -- serving drifted bodies ---------------------------------------------------------------


class Bodies:
    """The simulator's GET bodies by URL, and the one drifted body being served."""

    def __init__(self) -> None:
        self.captured: dict[str, Any] = {}
        self.drifted: dict[str, bytes] = {}  # URL -> the JSON to serve instead
        self.stand_ins: dict[str, Any] = {}  # URL path -> the body for a 404 of the simulator
        self.puts: list[Any] = []


class DriftingTransport(httpx.AsyncBaseTransport):
    """Forwards to the simulator, remembers its GET bodies, serves drifted ones instead."""

    def __init__(self, inner: httpx.AsyncBaseTransport, bodies: Bodies) -> None:
        self.inner = inner
        self.bodies = bodies

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.method == "GET" and url in self.bodies.drifted:
            return httpx.Response(200, content=self.bodies.drifted[url], headers=JSON)
        if request.method == "PUT" and self.bodies.drifted:
            self.bodies.puts.append(json.loads(request.content))
            return httpx.Response(200, content=request.content, headers=JSON)
        response = await self.inner.handle_async_request(request)
        stand_in = self.bodies.stand_ins.get(request.url.path)
        if request.method == "GET" and response.status_code == 404 and stand_in is not None:
            await response.aclose()
            response = httpx.Response(200, json=stand_in)
        if request.method == "GET" and response.status_code == 200:
            await response.aread()
            self.bodies.captured[url] = response.json()
        return response


# -- what to drift ------------------------------------------------------------------------

Path = tuple[str | int, ...]


def field_paths(body: Any) -> Iterator[Path]:
    """Every top-level key and every key one level down (first element of arrays)."""
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        yield (key,)
        if isinstance(value, dict):
            for sub in value:
                yield (key, sub)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for sub in value[0]:
                yield (key, 0, sub)


def get_at(body: Any, path: Path) -> Any:
    for step in path:
        body = body[step]
    return body


def replaced(body: Any, path: Path, value: Any) -> Any:
    """``body`` with ``value`` at ``path``; only the containers on the path are copied."""
    drifted: Any = dict(body)
    node = drifted
    for step in path[:-1]:
        child = node[step]
        child = dict(child) if isinstance(child, dict) else list(child)
        node[step] = child
        node = child
    node[path[-1]] = value
    return drifted


def same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# -- what a good read looks like ----------------------------------------------------------

_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def faithful(sent: Any, read: Any) -> bool:
    """Whether ``read`` is what ``sent`` means: never a repr, a rounded number or a guess."""
    if isinstance(read, str):
        numeric = isinstance(sent, (int, float)) and not isinstance(sent, bool)
        return (isinstance(sent, str) or numeric) and read == str(sent)
    if sent is None or sent == "":
        return read is None or read == ()
    if isinstance(read, bool):
        if isinstance(sent, str):
            return _BOOL_TEXT.get(sent.lower()) is read
        return sent is read or (type(sent) is int and bool(sent) is read)
    if isinstance(read, (int, float)):
        try:
            number = float(sent)
        except (TypeError, ValueError):
            return False
        return not isinstance(sent, bool) and (read == number or math.isnan(number))
    if isinstance(read, dt.timedelta):
        return not isinstance(sent, bool) and read == dt.timedelta(seconds=float(sent))
    if isinstance(read, dt.datetime):
        return isinstance(sent, str)
    if isinstance(read, Lookup) and not isinstance(sent, (dict, list)):
        text = str(sent).strip()
        return read.id == int(text) if text.isdigit() else read.name == sent
    if isinstance(read, (Model, tuple)):
        return isinstance(sent, (dict, list))
    return False


def attribute_for(model: Model, key: str) -> str | None:
    for attr, json_key in json_keys(type(model)).items():
        if json_key == key:
            return attr
    return None


def dropped_items(model: Model, key: str, sent: Any) -> int | None:
    """The index of the one item of ``sent`` recorded as ``unparsed["key[i]"]``, if any."""
    dropped = [k for k in model.unparsed if k.startswith(f"{key}[")]
    if not dropped:
        return None
    assert len(dropped) == 1, dropped
    index = int(dropped[0][len(key) + 1 : -1])
    assert same_json(model.unparsed[dropped[0]], sent[index])
    return index


def compare(read: Any, base: Any, drifted: Any, path: Path) -> tuple[bool | None, str | None]:
    """Check ``read`` against the undrifted ``base``; ``drifted`` is its JSON, ``path`` the drift.

    Fails the test if any field off the path differs, or if the drifted field
    is neither read faithfully nor recorded in its model's ``unparsed``. Returns
    whether the value was recorded (None: in a list call's collection, which the
    call does not return) and the drifted field's attribute path.
    """
    if isinstance(read, list):  # a list call: the items of the body's collection
        assert isinstance(base, list)
        if path[0] != "items":
            assert read == base, path
            return None, str(path[0])
        if len(path) == 1:
            return None, "items"
        assert len(read) == len(base), path
        assert read[1:] == base[1:], path
        recorded, attr_path = compare(read[0], base[0], drifted["items"][0], path[2:])
        return recorded, f"items[0].{attr_path}"
    assert isinstance(read, Model), type(read)
    key = path[0]
    assert isinstance(key, str)
    attr = attribute_for(base, key)
    for name in json_keys(type(base)):
        if name != attr:
            assert getattr(read, name) == getattr(base, name), (path, name)
    if attr is None:  # a key no field maps: kept in extra as sent
        assert same_json(read.extra[key], drifted[key]), path
        return False, None
    value = getattr(read, attr)
    if len(path) == 1:
        sent = drifted[key]
        if key in read.unparsed:
            assert same_json(read.unparsed[key], sent), path
            assert value == attrs.fields_dict(type(read))[attr].default, path
            return True, attr
        dropped = dropped_items(read, key, sent)
        if dropped is not None:  # a list arrived with items that are not objects
            assert len(value) == len(sent) - 1, path
            return True, f"{attr}[{dropped}]"
        if isinstance(value, Model):  # an array read as a collection, ditto
            dropped = dropped_items(value, "items", sent)
            if dropped is not None:
                return True, f"{attr}.items[{dropped}]"
        assert faithful(sent, value), (path, sent, value)
        return False, attr
    inner, inner_base, inner_json, rest = value, getattr(base, attr), drifted[key], path[1:]
    if isinstance(rest[0], int):
        if isinstance(inner, Model):  # a collection object read where an array is modelled
            inner, inner_base = inner.items, inner_base.items  # type: ignore[attr-defined]
        inner, inner_base, inner_json = inner[rest[0]], inner_base[rest[0]], inner_json[rest[0]]
        attr, rest = f"{attr}[{rest[0]}]", rest[1:]
    recorded, attr_path = compare(inner, inner_base, inner_json, rest)
    return recorded, f"{attr}.{attr_path}"


# -- the fuzzer ---------------------------------------------------------------------------


async def find_ids(api: Cloutility, sim: Simulator) -> Ids:
    world = sim.world
    for consumer in world.consumers_in_tree(world.root_id):
        ref = api.bunit(consumer.bu_id).consumer(consumer.id)
        try:
            await ref.node.get()
            await ref.first_job()
        except Exception:
            continue
        if await ref.jobs() and await ref.node.filespaces():
            break
    else:
        raise AssertionError("no consumer with a node, jobs and filespaces in the default world")
    return Ids(bunit=world.root_id, consumer_bunit=consumer.bu_id, consumer=consumer.id)


_BY_TEMPLATE = {route.template: route for route in routes.ROUTES if route.method == "GET"}


async def find_target(api: Cloutility, route: Route[Any], ids: Ids) -> Target:
    """The route's path at ``ids``; an item route's id is its collection's first item's."""
    names = placeholders(route.template)
    bunit = ids.consumer_bunit if "consumer" in names else ids.bunit
    values = {"bunit": str(bunit), "consumer": str(ids.consumer)}
    item = ""
    if names and names[-1] not in values:
        parent = _BY_TEMPLATE.get(route.template.rsplit("/", 1)[0])
        assert parent is not None, f"no collection route above {route.template}"
        assert parent.many, parent
        path = parent.path(*(values[name] for name in placeholders(parent.template)))
        items = await api.ref(path).list()
        assert items, f"{path} is empty in the default world"
        first = items[0]
        found = re.search(f"/{route.pattern.pattern}$", str(getattr(first, "href", None) or ""))
        item = found.groups()[-1] if found else str(first.id)
        stand_in = dict(first.raw)
    else:
        stand_in = None
    path = route.path(*(values.get(name, item) for name in names))
    return Target(bunit=bunit, consumer=ids.consumer, item=item, path=path, stand_in=stand_in)


@pytest.mark.parametrize("route", FUZZED, ids=[route_id(route) for route in FUZZED])
async def test_drifted_responses_stay_readable(
    route: Route[Any], anyio_backend: str, drift_figures: list[tuple[int, int]]
) -> None:
    """Every field of the route's body, drifted to every other JSON type, is read field by field."""
    call = call_for(route)
    writable = route.template in _PUTS
    sim = Simulator()
    bodies = Bodies()

    def client(strict: bool) -> Cloutility:
        options = sim.client_options()
        transport = DriftingTransport(options.pop("transport"), bodies)
        return Cloutility(**options, transport=transport, strict=strict, max_retries=0)

    async with client(False) as api, client(True) as strict_api:
        at = await find_target(api, route, await find_ids(api, sim))
        if at.stand_in is not None:
            bodies.stand_ins[api.ref(at.path).href.path] = at.stand_in
        bodies.captured.clear()
        base = await call(api, at)
        url, body = next(
            (url, body)
            for url, body in bodies.captured.items()
            if httpx.URL(url).path.endswith("/" + at.path)
        )
        assert all(httpx.URL(other).path == httpx.URL(url).path for other in bodies.captured), (
            "the call read another route",
            list(bodies.captured),
        )
        variants = [
            (path, value)
            for path in field_paths(body)
            for value in DRIFTS
            if not same_json(value, get_at(body, path))
        ]
        if anyio_backend != "asyncio":
            variants = trio_sample(variants)
        readable = unreadable_values = 0
        try:
            for path, value in variants:
                drifted = replaced(body, path, value)
                bodies.drifted = {url: json.dumps(drifted).encode()}
                before = api.statistics().schema_drift
                read = await call(api, at)  # the one thing that must never fail
                readable += 1
                recorded, attr_path = compare(read, base, drifted, path)
                # Counted once compare() has read every field: a nested object of a
                # tolerant read is built, and its drift reported, when first read.
                counted = api.statistics().schema_drift - before
                assert counted <= 1, (path, value)
                unreadable_values += counted
                assert recorded is None or recorded == bool(counted), (path, value, counted)
                if counted:
                    with pytest.raises(DecodeError) as caught:
                        await call(strict_api, at)
                    assert f"$.{attr_path}" in str(caught.value), (path, value)
                else:
                    assert await call(strict_api, at) == read, (path, value)
                if writable:
                    await check_write(api, at, read, drifted, path, bodies)
        finally:
            drift_figures.append((readable, len(variants)))
    # Not vacuous: the drifted bodies were served (and on asyncio both outcomes occurred).
    assert unreadable_values > 0
    assert anyio_backend != "asyncio" or unreadable_values < len(variants)


def test_every_get_route_of_a_model_is_fuzzed() -> None:
    """The fuzzer's routes are the table's model GETs; CALLS names only such routes."""
    assert set(CALLS) <= set(FUZZED)
    not_fuzzed = {route for route in routes.ROUTES if route.method == "GET"} - set(FUZZED)
    assert {(route.template, route.model) for route in not_fuzzed} == {
        ("fullVersion", str),
        ("timezones/{timezone}/offset", object),
        ("bunits/{bunit}/invoicefiles/{file}", bytes),
        ("bunits/{bunit}/consumers/{consumer}/node/spname", str),
        ("bunits/{bunit}/consumers/{consumer}/node/activate", str),
    }
    for route in FUZZED:
        call_for(route)  # a public call, or a followable href


def trio_sample(variants: list[tuple[Path, Any]]) -> list[tuple[Path, Any]]:
    """One drift per top-level field, rotating through the drift values."""
    by_path: dict[Path, list[Any]] = {}
    for path, value in variants:
        if len(path) == 1:
            by_path.setdefault(path, []).append(value)
    return [(path, values[i % len(values)]) for i, (path, values) in enumerate(by_path.items())]


async def check_write(
    api: Cloutility, at: Target, read: Any, drifted: Any, path: Path, bodies: Bodies
) -> None:
    """A PUT of the drifted read, one other field changed, sends the drifted JSON back."""
    keys = json_keys(type(read))
    attr = next(a for a in changes(type(read)) if keys[a] != path[0])
    bodies.puts.clear()
    await write_back(api, at, attrs.evolve(read, **{attr: CHANGED}))
    assert bodies.puts == [{**drifted, keys[attr]: CHANGED}], path
