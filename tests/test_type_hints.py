"""``typing.get_type_hints`` resolves every public class and callable, at any time.

FastAPI, pydantic, cattrs and the like call it on what they are given; the SDK's
string annotations must resolve at run time, though the models load on first use
and the classes say a public module (whose namespace is only the public names).
Each check runs in a fresh interpreter: right after the import, before any model
loaded, and again after a client read an answer.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import textwrap
import typing
from collections.abc import Iterator

import pytest

# The public modules (test_exported_members), and the OpenTelemetry hooks' module.
PUBLIC_MODULES = [
    "cloutility_async",
    "cloutility_async.sync",
    "cloutility_async.testing",
    "cloutility_async.webhooks",
    "cloutility_async.otel",
]


def public_callables(module_names: list[str]) -> Iterator[tuple[str, object]]:
    """Every public class and function of the modules, and the public methods,
    properties and ``__init__`` of each class (inherited ones with their class)."""
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type):
                yield f"{module_name}.{name}", value
                yield from _members(f"{module_name}.{name}", value)
            elif inspect.isfunction(value) or inspect.isbuiltin(value):
                yield f"{module_name}.{name}", value


def _members(label: str, cls: type) -> Iterator[tuple[str, object]]:
    for attribute in dir(cls):
        if attribute.startswith("_") and attribute != "__init__":
            continue
        member = inspect.getattr_static(cls, attribute)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        if inspect.isfunction(member):
            owner = member.__module__ or ""
            if owner.startswith("cloutility_async") or attribute == "__init__":
                yield f"{label}.{attribute}", member
        elif _is_twin(member):
            # The blocking facade's ``me = blocking(AsyncCloutility.me)``: what the class gives.
            yield f"{label}.{attribute}", getattr(cls, attribute)


def _is_twin(member: object) -> bool:
    """A descriptor standing for an SDK method (``sync``'s ``blocking``, ``iterating``)."""
    wrapped = getattr(member, "__wrapped__", None)
    return (
        hasattr(type(member), "__get__")
        and inspect.isfunction(wrapped)
        and (wrapped.__module__ or "").startswith("cloutility_async")
    )


def unresolved(module_names: list[str]) -> dict[str, str]:
    failures = {}
    for label, value in public_callables(module_names):
        try:
            typing.get_type_hints(value)
        except Exception as exc:
            failures[label] = f"{type(exc).__name__}: {exc}"
    return failures


def test_the_walk_finds_the_public_callables() -> None:
    """The enumeration reaches classes, methods, properties and functions of each module."""
    found = dict(public_callables(PUBLIC_MODULES))
    for label in (
        "cloutility_async.Cloutility",
        "cloutility_async.Cloutility.__init__",
        "cloutility_async.Cloutility.me",
        "cloutility_async.ConsumerRef.get",
        "cloutility_async.Consumer",
        "cloutility_async.Consumer.__init__",
        "cloutility_async.APIError.request_id",
        "cloutility_async.sync.Cloutility",
        "cloutility_async.sync.Cloutility.me",
        "cloutility_async.sync.Cloutility.ref",
        "cloutility_async.sync.ConsumerRef.get",
        "cloutility_async.sync.ConsumerRef.audit_log",
        "cloutility_async.sync.BusinessUnitRef.upload_invoice_file",
        "cloutility_async.testing.Simulator",
        "cloutility_async.webhooks.billing_fetcher",
        "cloutility_async.otel.OpenTelemetryHooks",
    ):
        assert label in found, label
    assert len(found) > 400


RUN = """
import json, sys
sys.path.insert(0, {tests!r})
from test_type_hints import unresolved
{before}
print(json.dumps(unresolved({modules!r})))
"""

READ_AN_ANSWER = """
import anyio
from cloutility_async import Cloutility
from cloutility_async.testing import Simulator

async def read() -> None:
    sim = Simulator()
    async with Cloutility(**sim.client_options()) as api:
        await api.me()

anyio.run(read)
assert "cloutility_async._models" in sys.modules
"""


@pytest.mark.parametrize("when", ["right-after-import", "after-an-answer"])
@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_annotation_resolves(module_name: str, when: str) -> None:
    """``typing.get_type_hints`` works on every public class, method and function."""
    before = textwrap.dedent(READ_AN_ANSWER) if when == "after-an-answer" else ""
    code = RUN.format(tests=str(_tests_dir()), before=before, modules=[module_name])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {}


def test_the_first_model_hint_loads_the_models_not_the_import() -> None:
    """Importing the package loads no model; resolving a hint that names one loads them."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, typing
                import cloutility_async
                before = "cloutility_async._models" in sys.modules
                hints = typing.get_type_hints(cloutility_async.ConsumerRef.get)
                print(before, hints["return"] is cloutility_async.Consumer)
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def _tests_dir() -> object:
    from pathlib import Path

    return Path(__file__).resolve().parent


def test_a_blocking_method_has_the_async_ones_hints() -> None:
    """The facade's ``me`` (class or instance) has the async ``me``'s hints, and
    ``audit_log`` returns a plain ``BlockingIterator`` of the same items."""
    from cloutility_async import AuditLogEntry, Cloutility, ConsumerRef, sync
    from cloutility_async.sync import BlockingIterator

    api = sync.Cloutility(client_id="c", origin="https://o.example", username="u", password="p")
    for blocking_me in (sync.Cloutility.me, api.me):
        assert typing.get_type_hints(blocking_me) == typing.get_type_hints(Cloutility.me)
    async_hints = typing.get_type_hints(ConsumerRef.audit_log)
    for audit_log in (sync.ConsumerRef.audit_log, api.bunit(1).consumer(2).audit_log):
        hints = typing.get_type_hints(audit_log)
        assert hints.pop("return") == BlockingIterator[AuditLogEntry]
        assert hints == {k: v for k, v in async_hints.items() if k != "return"}


def test_no_public_signature_shows_a_forward_reference() -> None:
    """``inspect.signature`` (help(), IDEs, documentation tools) shows each annotation as
    written, a string, as for every other callable: never a ``ForwardRef(...)``."""
    shown = {}
    for label, value in public_callables(PUBLIC_MODULES):
        if not callable(value):
            continue  # a blocking method's descriptor: its class gives no signature
        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):  # a builtin without one
            continue
        annotations = [p.annotation for p in signature.parameters.values()]
        annotations.append(signature.return_annotation)
        if any(isinstance(a, typing.ForwardRef) or "ForwardRef" in repr(a) for a in annotations):
            shown[label] = str(signature)
    assert shown == {}
    token = inspect.signature(importlib.import_module("cloutility_async").Token)
    assert token.parameters["expires_at"].annotation == "dt.datetime"


@pytest.mark.parametrize(
    ("text", "resolves"),
    [
        ("tuple[Consumer, ...]", True),
        ("dt.datetime | None", True),
        ("Mapping[str, Any]", True),
        ("tuple[Unknown, ...]", False),
        ("models.Consumer", False),
    ],
)
def test_an_annotation_resolves_where_each_of_its_names_does(text: str, resolves: bool) -> None:
    """Only an annotation that would not resolve where it was written is re-pointed (a
    ForwardRef in ``inspect.signature``): ``...`` is no name, a dotted one is its first part."""
    from cloutility_async._public import _resolves_in

    namespace = {"Consumer": object, "dt": object, "Mapping": object, "Any": object}
    assert _resolves_in(text, namespace) is resolves
