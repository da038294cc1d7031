"""Import httpx without its command-line module.

``import httpx`` runs ``from ._main import main``, and ``httpx._main`` imports
click, rich and pygments whenever click is importable (uvicorn and our own CLI
bring it): about 11% of the instructions of ``import cloutility_async``, for a
command line this process never runs. Imported first by the package: when httpx
is not loaded yet, a stand-in for ``httpx._main`` is in ``sys.modules`` while
httpx imports, so ``httpx.main`` is a small function that loads the real
command line when (if ever) it is called; the stand-in is removed again, so a
later ``import httpx._main`` gets the real module. When httpx is already
imported, nothing happens.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__: list[str] = []


def _import_httpx_without_its_cli() -> None:
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
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
        import httpx
    finally:
        if sys.modules.get("httpx._main") is stand_in:
            del sys.modules["httpx._main"]
    package = sys.modules.get("httpx")
    if package is not None and getattr(package, "_main", None) is stand_in:
        delattr(package, "_main")  # `httpx._main` is the real module again once imported
    del httpx


_import_httpx_without_its_cli()
