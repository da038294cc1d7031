"""Every public callable says what it is for: ``help()``, IDEs and the API reference show it.

Public means: every name in the ``__all__`` of a public module, and every public
method and property (inherited ones included) of every public class. A method
that implements a documented one of a base class may inherit its docstring, as
``help()`` does; a blocking twin (``cloutility_async.sync``) shows the async
method's.
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Iterator

import pytest

PUBLIC_MODULES = [
    "cloutility_async",
    "cloutility_async.sync",
    "cloutility_async.testing",
    "cloutility_async.testing.pytest_plugin",
    "cloutility_async.webhooks",
]


def public_members(cls: type) -> Iterator[tuple[str, object]]:
    """The public methods and properties of ``cls`` defined in this package."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("cloutility_async"):
            continue  # object, attrs, Exception, Generic, Protocol: not ours to document
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                yield name, value.fget
            elif hasattr(value, "__wrapped__"):  # the facade's blocking descriptors
                yield name, value
            elif isinstance(value, types.FunctionType):
                yield name, getattr(cls, name)


def documentation(value: object) -> str:
    """What ``help()`` shows for ``value`` (a descriptor's own ``__doc__``)."""
    doc = value.__doc__ if hasattr(value, "__wrapped__") else inspect.getdoc(value)
    return (doc or "").strip()


def undocumented(module_name: str) -> list[str]:
    """The public callables of a module that have no docstring."""
    module = importlib.import_module(module_name)
    missing = [module_name] if not (module.__doc__ or "").strip() else []
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, (type, types.FunctionType)) and not documentation(value):
            missing.append(f"{module_name}.{name}")
        if isinstance(value, type):
            missing += [
                f"{module_name}.{name}.{member}"
                for member, function in public_members(value)
                if not documentation(function)
            ]
    return missing


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_callable_has_a_docstring(module_name: str) -> None:
    """Each function, class, method and property users can reach is documented."""
    assert undocumented(module_name) == []


def test_the_check_sees_methods_properties_and_blocking_twins() -> None:
    """The walk finds what it must judge: an inherited method, a property, a twin."""
    from cloutility_async import BusinessUnitRef, sync

    found = dict(public_members(BusinessUnitRef))
    assert {"get", "contract", "consumer"} <= set(found)  # own and from BillingMixin
    assert "id" not in found  # an attribute, not a callable
    assert "href" in found  # a property (built on first read)
    twins = dict(public_members(sync.BusinessUnitRef))
    assert {"get", "contract", "id", "href"} <= set(twins)
    assert documentation(twins["contract"]) == documentation(found["contract"])
