"""The public face of each public module is exactly its ``__all__`` (httpx's check)."""

import importlib
import types

import pytest

PUBLIC_MODULES = [
    "cloutility_async",
    "cloutility_async.sync",
    "cloutility_async.testing",
    "cloutility_async.webhooks",
]
# Private by spelling, public by convention.
INCLUDED_PRIVATE_MEMBERS = {"__version__"}


def _public_members(module: types.ModuleType) -> set[str]:
    """Names a user sees with ``dir()``, minus the package's own submodules.

    ``dir()``, not ``vars()``: a name the module loads on first use (its
    ``__getattr__``) counts as soon as it can be reached.
    """
    return {
        name
        for name in dir(module)
        # "@py_builtins" and the like: pytest's assertion rewriting of plugin modules.
        if (not name.startswith(("_", "@")) or name in INCLUDED_PRIVATE_MEMBERS)
        and not (
            isinstance(value := getattr(module, name), types.ModuleType)
            and value.__name__.startswith(f"{module.__name__}.")
        )
    }


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_member_is_in_all_and_nothing_else(module_name: str) -> None:
    """No helper import (``annotations``, ``Any``, ...) leaks into a public namespace."""
    module = importlib.import_module(module_name)
    assert _public_members(module) == set(module.__all__)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_names_each_member_once(module_name: str) -> None:
    """``__all__`` lists each public name once."""
    names = list(importlib.import_module(module_name).__all__)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_classes_say_the_public_module_in_their_repr(module_name: str) -> None:
    """Reprs and tracebacks name ``cloutility_async.X``, not a private module."""
    module = importlib.import_module(module_name)
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type):
            assert value.__module__ == module_name, name
