"""Import httpx on first use, and then without its command-line module.

``import httpx`` was about 40% of the time of ``import cloutility_async`` (its ``_auth``
and ``_models`` bring ``urllib.request``, ``http.client``, ``http.cookiejar``,
``email`` and ``ssl``), while the default asyncio path sends through aiohttp and
touches httpx only when a client is built. Imported first by the package: when
httpx is not loaded yet, ``sys.modules["httpx"]`` becomes httpx's real module
object, still empty, whose first attribute read (``httpx.URL``, ``from httpx
import ...``) runs httpx's own code in it, once, under a lock (another thread
waits for it, as an import would); after that it is a plain module and a read
costs what it always did. So every ``import httpx`` (ours and the user's) stays,
and stays free until a name is used. A submodule imported first (``from
httpx._models import Response``) loads alone and is the one httpx then uses.

When httpx does load, ``httpx._main`` is a stand-in while it runs: ``import
httpx`` runs ``from ._main import main``, and ``httpx._main`` imports click, rich
and pygments whenever click is importable (uvicorn and our own CLI bring it),
for a command line this process never runs. ``httpx.main`` is then a small
function that loads the real command line when (if ever) it is called; the
stand-in is removed again, so a later ``import httpx._main`` gets the real
module. When httpx is already imported, nothing here happens.

A broken httpx install (its own import fails: a missing ``idna``, say) is an
``ImportError`` that says so at that first use, caused by httpx's own error; any
later read of the module raises that same error again, so an ``except httpx.X``
clause that is the first use does not chain a second copy under the first.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

__all__: list[str] = []

# Reads answered without loading httpx: what the import system reads of any module in
# sys.modules (``import httpx`` checks ``__spec__``), and ``__path__``, by which it finds a
# submodule: ``from httpx._models import Response`` then runs that submodule alone (httpx's
# submodules import each other relatively and read nothing of the package), and the
# package's own code, when it runs, finds it in sys.modules, the same module.
_FREE = frozenset({"__spec__", "__name__", "__loader__", "__class__", "__path__"})
_lock = threading.RLock()
_loader: int | None = None  # the thread running httpx's code, while it runs
# Set on the module before its code ran (the import system sets each submodule it loads
# on its package): set again after it, as the standard library's LazyLoader does.
_set_before: dict[str, Any] = {}
_failure: ImportError | None = None  # why httpx's code failed, once it did


class _NotLoadedYet(types.ModuleType):
    """httpx's module before its first use: a read or a deletion loads it first."""

    def __getattribute__(self, name: str) -> Any:
        if name not in _FREE:
            _load(self)
        return types.ModuleType.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if _loader != threading.get_ident():
            _set_before[name] = value
        types.ModuleType.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        _load(self)
        types.ModuleType.__delattr__(self, name)


def _load(module: types.ModuleType) -> None:
    global _loader, _failure
    with _lock:
        if _failure is not None:
            raise _failure.with_traceback(None)
        if _loader is not None or type(module) is not _NotLoadedYet:
            return  # httpx's own code reading itself, or loaded by another thread meanwhile
        _loader = threading.get_ident()
        try:
            spec = types.ModuleType.__getattribute__(module, "__spec__")
            _without_its_cli(lambda: spec.loader.exec_module(module))
            for name, value in list(_set_before.items()):
                types.ModuleType.__setattr__(module, name, value)
        except BaseException as exc:
            if sys.modules.get("httpx") is module:
                del sys.modules["httpx"]  # as a failed import leaves it
            if not isinstance(exc, Exception):  # KeyboardInterrupt, say: as it came
                raise
            _failure = ImportError(
                f"cloutility_async needs httpx, and importing httpx failed:"
                f" {type(exc).__name__}: {exc}",
                name="httpx",
            )
            raise _failure from exc
        finally:
            _loader = None
        _set_before.clear()
        types.ModuleType.__setattr__(module, "__class__", types.ModuleType)


def _without_its_cli(run: Any) -> None:
    """Run httpx's import with a stand-in ``httpx._main`` (see the module docstring)."""
    if "httpx._main" in sys.modules:
        run()
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        """httpx's command line, imported on first use."""
        if sys.modules.get("httpx._main") is stand_in:
            del sys.modules["httpx._main"]
        from httpx._main import main as real_main

        return real_main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in
    try:
        run()
    finally:
        if sys.modules.get("httpx._main") is stand_in:
            del sys.modules["httpx._main"]
    package = sys.modules.get("httpx")
    if package is not None and package.__dict__.get("_main") is stand_in:
        del package.__dict__["_main"]  # `httpx._main` is the real module again once imported


def _defer_httpx() -> None:
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    spec = importlib.util.find_spec("httpx")
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        _without_its_cli(lambda: importlib.import_module("httpx"))
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _NotLoadedYet
    sys.modules["httpx"] = module


_defer_httpx()
