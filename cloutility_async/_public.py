"""Public classes written in private modules: the public module's name, their own hints.

A public class says ``cloutility_async.Token`` in reprs and tracebacks, so its
``__module__`` is the public module. ``typing.get_type_hints`` reads a class's
string annotations in the namespace of its ``__module__``, though, which holds
only the public names: ``dt.datetime`` or a private alias would not resolve
there. `say_public` renames the class and turns each annotation that names
anything else into a ``ForwardRef`` to the module that wrote it (as a
``TypedDict`` does), resolved when someone asks for the hints.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Mapping
from typing import Any, ForwardRef

__all__ = ["say_public"]

# What separates the names of an annotation ("Mapping[str, Any] | None"), as spaces.
_APART = str.maketrans(dict.fromkeys("[](),|'\"", " "))


def say_public(cls: type, module: str) -> None:
    """Show ``cls`` as ``module.Name``, its hints still resolved where it was written.

    Also for the ``__init__`` attrs writes, whose namespace is attrs' own.
    """
    home = cls.__module__
    made: dict[str, ForwardRef] = {}  # a field's, shared by __init__ (each costs a compile)
    annotations = cls.__dict__.get("__annotations__")  # noqa: RUF063 - changed in place
    if annotations:
        _point_home(annotations, vars(sys.modules[module]), home, made)
    init = cls.__dict__.get("__init__")
    written = getattr(init, "__globals__", None)
    if written is not None and written is not vars(sys.modules[home]):  # attrs' __init__
        _point_home(init.__annotations__, written, home, made)
    cls.__module__ = module


def _point_home(
    annotations: dict[str, Any], namespace: Mapping[str, Any], home: str, made: dict[str, Any]
) -> None:
    for name, value in annotations.items():
        if isinstance(value, str) and not _resolves_in(value, namespace):
            if value not in made:
                made[value] = ForwardRef(value, module=home, is_class=True)
            annotations[name] = made[value]


def _resolves_in(text: str, namespace: Mapping[str, Any]) -> bool:
    """Whether every name in ``text`` is one of ``namespace`` or a builtin (cheap, no eval).

    Of a dotted name (``dt.datetime``) only the first part is looked up: the rest are
    attributes of it, not names of the namespace; ``...`` (``tuple[X, ...]``) is no name.
    """
    return all(
        name in namespace
        or ("." in name and name.partition(".")[0] in namespace)
        or hasattr(builtins, name)
        or name == "..."
        for name in text.translate(_APART).split()
    )
