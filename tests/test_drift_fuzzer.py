"""The drift fuzzer: no value of an unexpected JSON type makes a GET route unreadable.

For every GET route the SDK reads into models, a real simulator response is
captured once; then each of its fields (top level, and one level down: the keys
of each object value and of the first element of each array value) is replaced
in turn by a value of every other JSON type and by ``""``, ``"0"`` and ``null``,
and served to the SDK's public call through a transport that rewrites the body.
For each drifted response:

* the tolerant client (the default) reads it: nothing raises;
* every other field equals the undrifted read;
* the drifted value is either accepted faithfully (a shape that means the same
  thing: a number for a TimeSpan, a bare name for a lookup, ...) or the field
  has its default, its key is in the owning model's ``unparsed`` and the client
  counted the drift; never both, never neither;
* where the SDK can write the resource back (consumers, business units, nodes),
  a PUT after the drifted read sends every key exactly as received, with only
  the changed field overlaid;
* a strict client raises ``DecodeError`` naming the field exactly when the
  value was not accepted, and otherwise reads the same model.

The figure "N of M drifted responses readable" is printed in pytest's terminal
summary (see ``conftest.py``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest

from cloutility_async import Cloutility, DecodeError, Lookup, Model
from cloutility_async._converter import json_keys
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


@attrs.frozen
class Ids:
    """Where the simulator's default world has something behind every route."""

    bunit: int  # the caller's root unit: contract, invoices, billing, server
    consumer_bunit: int
    consumer: int
    timezone: int
    invoice_date: str
    billing_date: str


Call = Callable[[Cloutility, Ids], Awaitable[Any]]


@attrs.frozen
class Route:
    """A public call that reads one GET route, and how to write its model back (if it can)."""

    name: str
    call: Call
    write: Callable[[Cloutility, Ids, Any], Awaitable[Any]] | None = None
    #: The fields the write changes: the first whose key is not the drifted one.
    changes: tuple[str, ...] = ()


async def _audit_log(api: Cloutility, ids: Ids) -> list[Any]:
    return [entry async for entry in await _consumer(api, ids).audit_log()]


def _consumer(api: Cloutility, ids: Ids) -> Any:
    return api.bunit(ids.consumer_bunit).consumer(ids.consumer)


ROUTES = [
    Route("me", lambda api, ids: api.me()),
    Route("bunits (tree)", lambda api, ids: api.bunit_tree()),
    Route("search/bunits", lambda api, ids: api.search_bunits("a")),
    Route("timezones", lambda api, ids: api.timezones()),
    Route("timezones/{id}", lambda api, ids: api.timezone(ids.timezone).get()),
    Route("nodeoperatingsystems", lambda api, ids: api.node_operating_systems()),
    Route("nodetypes", lambda api, ids: api.node_types()),
    Route("nodewarningtypes", lambda api, ids: api.node_warning_types()),
    Route(
        "bunits/{b}",
        lambda api, ids: api.bunit(ids.bunit).get(),
        lambda api, ids, bu: api.bunit(ids.bunit).update(bu),
        ("note", "registration_number"),
    ),
    Route("bunits/{b}/bunits", lambda api, ids: api.bunit(ids.bunit).children()),
    Route("bunits/{b}/users", lambda api, ids: api.bunit(ids.bunit).users()),
    Route("bunits/{b}/consumers", lambda api, ids: api.bunit(ids.bunit).consumers()),
    Route("bunits/{b}/defaultserver", lambda api, ids: api.bunit(ids.bunit).default_server()),
    Route("defaultserver/domains", lambda api, ids: api.bunit(ids.bunit).domains()),
    Route(
        "defaultserver/clientoptionsets",
        lambda api, ids: api.bunit(ids.bunit).client_option_sets(),
    ),
    Route("bunits/{b}/contract", lambda api, ids: api.bunit(ids.bunit).contract()),
    Route("bunits/{b}/invoices", lambda api, ids: api.bunit(ids.bunit).invoices()),
    Route(
        "bunits/{b}/invoices/{date}",
        lambda api, ids: api.bunit(ids.bunit).invoice(ids.invoice_date),
    ),
    Route("bunits/{b}/invoicefiles", lambda api, ids: api.bunit(ids.bunit).invoice_files()),
    Route("bunits/{b}/billing", lambda api, ids: api.bunit(ids.bunit).billing()),
    Route(
        "bunits/{b}/billing/{date}",
        lambda api, ids: api.bunit(ids.bunit).billing_for(ids.billing_date),
    ),
    Route(
        "consumers/{c}",
        lambda api, ids: _consumer(api, ids).get(),
        lambda api, ids, consumer: _consumer(api, ids).update(consumer),
        ("note", "external_reference"),
    ),
    Route("consumers/{c}/auditlogs", _audit_log),
    Route("consumers/{c}/reports", lambda api, ids: _consumer(api, ids).reports()),
    Route("reports/latest", lambda api, ids: _consumer(api, ids).latest_report()),
    Route("jobs/first", lambda api, ids: _consumer(api, ids).first_job()),
    Route("jobs", lambda api, ids: _consumer(api, ids).jobs()),
    Route(
        "node",
        lambda api, ids: _consumer(api, ids).node.get(),
        lambda api, ids, node: _consumer(api, ids).node.update(node),
        ("contact", "tcp_name"),
    ),
    Route("node/filespaces", lambda api, ids: _consumer(api, ids).node.filespaces()),
    Route(
        "node/possibleproxynodes",
        lambda api, ids: _consumer(api, ids).node.possible_proxy_nodes(),
    ),
]


# -- serving drifted bodies ---------------------------------------------------------------


class Bodies:
    """The simulator's GET bodies by URL, and the one drifted body being served."""

    def __init__(self) -> None:
        self.captured: dict[str, Any] = {}
        self.drifted: dict[str, Any] = {}  # URL -> the body to serve instead
        self.puts: list[Any] = []


class DriftingTransport(httpx.AsyncBaseTransport):
    """Forwards to the simulator, remembers its GET bodies, serves drifted ones instead."""

    def __init__(self, inner: httpx.AsyncBaseTransport, bodies: Bodies) -> None:
        self.inner = inner
        self.bodies = bodies

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.method == "GET" and url in self.bodies.drifted:
            return httpx.Response(200, json=self.bodies.drifted[url])
        if request.method == "PUT" and self.bodies.drifted:
            body = json.loads(request.content)
            self.bodies.puts.append(body)
            return httpx.Response(200, json=body)
        response = await self.inner.handle_async_request(request)
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
    drifted = copy.deepcopy(body)
    get_at(drifted, path[:-1])[path[-1]] = value
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
    invoices = await api.bunit(world.root_id).invoices()
    billing = await api.bunit(world.root_id).billing()
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
    timezones = await api.timezones()
    assert invoices[0].href
    assert billing[0].invoice_date_str
    assert timezones[0].id is not None
    return Ids(
        bunit=world.root_id,
        consumer_bunit=consumer.bu_id,
        consumer=consumer.id,
        timezone=timezones[0].id,
        invoice_date=invoices[0].href.rsplit("/", 1)[1],
        billing_date=billing[0].invoice_date_str,
    )


@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
async def test_drifted_responses_stay_readable(
    route: Route, anyio_backend: str, drift_figures: list[tuple[int, int]]
) -> None:
    """Every field of the route's body, drifted to every other JSON type, is read field by field."""
    sim = Simulator()
    bodies = Bodies()

    def client(strict: bool) -> Cloutility:
        options = sim.client_options()
        transport = DriftingTransport(options.pop("transport"), bodies)
        return Cloutility(**options, transport=transport, strict=strict, max_retries=0)

    async with client(False) as api, client(True) as strict_api:
        ids = await find_ids(api, sim)
        bodies.captured.clear()
        base = await route.call(api, ids)
        assert bodies.captured, "the route sent no GET"
        (url, body), *more = bodies.captured.items()
        assert not more or route.name == "consumers/{c}/auditlogs", list(bodies.captured)
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
                bodies.drifted = {url: drifted}
                before = api.statistics().schema_drift
                read = await route.call(api, ids)  # the one thing that must never fail
                readable += 1
                counted = api.statistics().schema_drift - before
                assert counted <= 1, (path, value)
                unreadable_values += counted
                recorded, attr_path = compare(read, base, drifted, path)
                assert recorded is None or recorded == bool(counted), (path, value, counted)
                if counted:
                    with pytest.raises(DecodeError) as caught:
                        await route.call(strict_api, ids)
                    assert f"$.{attr_path}" in str(caught.value), (path, value)
                else:
                    assert await route.call(strict_api, ids) == read, (path, value)
                if route.write is not None:
                    await check_write(route, api, ids, read, drifted, path, bodies)
        finally:
            drift_figures.append((readable, len(variants)))
    # Not vacuous: the drifted bodies were served (and on asyncio both outcomes occurred).
    assert unreadable_values > 0
    assert anyio_backend != "asyncio" or unreadable_values < len(variants)


def trio_sample(variants: list[tuple[Path, Any]]) -> list[tuple[Path, Any]]:
    """One drift per top-level field, rotating through the drift values."""
    by_path: dict[Path, list[Any]] = {}
    for path, value in variants:
        if len(path) == 1:
            by_path.setdefault(path, []).append(value)
    return [(path, values[i % len(values)]) for i, (path, values) in enumerate(by_path.items())]


async def check_write(
    route: Route, api: Cloutility, ids: Ids, read: Any, drifted: Any, path: Path, bodies: Bodies
) -> None:
    """A PUT of the drifted read, one other field changed, sends the drifted JSON back."""
    assert route.write is not None
    keys = json_keys(type(read))
    attr = next(a for a in route.changes if keys[a] != path[0])
    bodies.puts.clear()
    await route.write(api, ids, attrs.evolve(read, **{attr: CHANGED}))
    assert bodies.puts == [{**drifted, keys[attr]: CHANGED}], path
